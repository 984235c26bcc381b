"""REST API of the content service: the curators' library and the feed."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response, status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import Database, UnitOfWork, utcnow
from condividi.errors import ApiError, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.roster_copy import profile_of
from condividi.service import DatabaseDep
from services.content import library, lifecycle, targeting
from services.content.campaigns import AudienceUpdate, audience_of, storage_of, unknown_teams
from services.content.copies import known_teams
from services.content.events import WithdrawalReason
from services.content.feed import FeedPage, FeedQuery, Position, read_feed
from services.content.lifecycle import Action
from services.content.models import (
    SEARCH_DOCUMENT,
    Campaign,
    ContentItem,
    ContentItemCreate,
    ContentItemPublic,
    ContentItemUpdate,
    ContentRevision,
    ContentRevisionPublic,
    ContentStatus,
    PinCreate,
    PublishRequest,
)
from services.content.previews.worker import request_link_preview

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
# Employees read an item once it is published, and after it expired (so that sharing can tell them why
# they may no longer share it); drafts, scheduled and archived items are the curators'.
_SEEN_BY_EVERYONE = (ContentStatus.PUBLISHED, ContentStatus.EXPIRED)
_TAG: list[str | Enum] = ["content-items"]
# A query string parameter PostgreSQL can take (no NUL), stated in the schema.
_NO_NUL = {"not": {"pattern": "\u0000"}}


def _public(item: ContentItem, campaign: Campaign | None, now: Any = None) -> ContentItemPublic:
    public = ContentItemPublic.model_validate(item, from_attributes=True)
    if not library.active_pin(item, now or utcnow()):
        public.pinned_position = public.pinned_until = None
    if campaign is not None:
        public.utm_campaign = campaign.utm_campaign
        public.required_disclosure = campaign.required_disclosure
    public.audience = audience_of(item)
    public.campaign_audience = audience_of(campaign) if campaign is not None else None
    return public


async def _publics(session: AsyncSession, items: list[ContentItem]) -> list[ContentItemPublic]:
    ids = {i.campaign_id for i in items if i.campaign_id is not None}
    campaigns = {}
    if ids:
        campaigns = {c.id: c for c in (await session.scalars(select(Campaign).where(col(Campaign.id).in_(ids)))).all()}
    now = utcnow()
    return [_public(i, campaigns.get(i.campaign_id) if i.campaign_id else None, now) for i in items]


async def _load(db: Database, caller: Caller, item_id: uuid.UUID) -> ContentItem:
    async with db.read() as session:
        item = await session.get(ContentItem, item_id)
    # Another org's id answers exactly like a missing one.
    if item is None or item.org_id != caller.org_id:
        raise not_found("content item")
    return item


async def _locked(uow: UnitOfWork, caller: Caller, item_id: uuid.UUID) -> ContentItem:
    item = await uow.session.get(ContentItem, item_id, with_for_update=True)
    if item is None or item.org_id != caller.org_id:
        raise not_found("content item")
    return item


async def _answer(uow: UnitOfWork, item: ContentItem) -> ContentItemPublic:
    return _public(item, await library.campaign_of(uow.session, item))


# No body (or an empty one): publish now.
_PUBLISH_NOW = PublishRequest()
_STATE = "`conflict`: the item's status does not allow this (the message says why)."


@router.post(
    "/content-items",
    status_code=status.HTTP_201_CREATED,
    tags=_TAG,
    operation_id="content-items-create",
)
async def create_content_item(body: ContentItemCreate, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Creates a draft; employees see it once it is published (now or at a time, see publish)."""
    now = utcnow()
    problems = lifecycle.schedule_problems(now, publish_at=None, expires_at=body.expires_at)
    if body.pin is not None:
        problems += _pin_problems(body.pin, now, ("body", "pin", "pinned_until"))
    if problems:
        raise lifecycle.invalid(problems)
    item = ContentItem(
        org_id=caller.org_id,
        title=body.title,
        url=str(body.url),
        summary=body.summary,
        suggested_caption=body.suggested_caption,
        topics=body.topics,
        image_url=str(body.image_url) if body.image_url is not None else None,
        image_alt=body.image_alt,
        expires_at=body.expires_at,
        status=ContentStatus.DRAFT,
        created_by=caller.subject,
        created_at=now,
        updated_at=now,
    )
    async with db.unit_of_work() as uow:
        uow.session.add(item)
        await request_link_preview(uow.session, org_id=item.org_id, item_id=item.id, url=item.url)
        if body.pin is not None:
            await library.lock_pins(uow.session, caller.org_id)
            await library.pin(uow.session, item, body.pin.position, body.pin.pinned_until, now)
        return await _answer(uow, item)


@router.get(
    "/content-items",
    tags=_TAG,
    operation_id="content-items-list",
    responses=error_responses(400),
)
async def list_content_items(
    caller: Curator,
    db: DatabaseDep,
    statuses: Annotated[list[ContentStatus] | None, Query(alias="status", description="Any of these statuses.")] = None,
    campaign_id: uuid.UUID | None = None,
    topic: Annotated[str | None, Query(max_length=50, json_schema_extra=_NO_NUL)] = None,
    author: Annotated[
        str | None, Query(max_length=255, description="Who created it (subject).", json_schema_extra=_NO_NUL)
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description='Words in the title, summary or caption (all of them; "a phrase", -excluded, or).',
            json_schema_extra=_NO_NUL,
        ),
    ] = None,
    pinned: Annotated[
        bool | None, Query(description="true: only the items pinned now (their `pinned_position` orders them).")
    ] = None,
    limit: PageSize = 20,
    cursor: str | None = None,
    before: Before = None,
) -> Page[ContentItemPublic]:
    """The org's library for curators, newest first, filtered by any of status, campaign, topic,
    author, text (a full-text search on an index) and pinned."""
    for name, value in (("topic", topic), ("author", author), ("q", q)):
        if value is not None and "\x00" in value:
            raise lifecycle.invalid([{"loc": ["query", name], "message": "the NUL character is not allowed"}])
    query = select(ContentItem).where(col(ContentItem.org_id) == caller.org_id)
    if statuses:
        query = query.where(col(ContentItem.status).in_([s.value for s in statuses]))
    if campaign_id is not None:
        query = query.where(col(ContentItem.campaign_id) == campaign_id)
    if topic is not None:
        query = query.where(col(ContentItem.topics).contains([topic.strip().lower()]))
    if author is not None:
        query = query.where(col(ContentItem.created_by) == author)
    if pinned is not None:
        now = utcnow()
        active = (
            col(ContentItem.pinned_position).is_not(None)
            & col(ContentItem.status).in_([s.value for s in library.PINNABLE])
            & (col(ContentItem.pinned_until).is_(None) | (col(ContentItem.pinned_until) > now))
        )
        query = query.where(active if pinned else ~active)
    if q is not None and q.strip():
        query = query.where(text(f"{SEARCH_DOCUMENT} @@ websearch_to_tsquery('simple', :q)").bindparams(q=q))
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session,
            query,
            sort=ContentItem.created_at,
            row_id=ContentItem.id,
            limit=limit,
            cursor=cursor,
            before=before,
        )
        return Page[ContentItemPublic](items=await _publics(session, rows), next_cursor=next_cursor)


@router.get("/content-items/{item_id}", tags=_TAG, operation_id="content-items-get")
async def get_content_item(item_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> ContentItemPublic:
    """An item; employees see it only published and when it is for them (its audience and its
    campaign's), else 404 as if it did not exist."""
    item = await _load(db, caller, item_id)
    campaign = await targeting.campaign_of(db, item)
    if not caller.has_any(Role.CURATOR, Role.ADMIN):
        if item.status not in _SEEN_BY_EVERYONE:
            raise not_found("content item")
        profile = await profile_of(db, caller.org_id, caller.subject, caller.roles)
        if not targeting.reaches(item, campaign, profile):
            raise not_found("content item")
    return _public(item, campaign)


@router.patch(
    "/content-items/{item_id}",
    tags=_TAG,
    operation_id="content-items-update",
    responses=error_responses(409, s409=_STATE),
)
async def update_content_item(
    item_id: uuid.UUID, body: ContentItemUpdate, caller: Curator, db: DatabaseDep
) -> ContentItemPublic:
    """Changes the fields sent. A draft or a scheduled item changes in place; a published item
    publishes a new revision (``ContentPublished`` with revision + 1) that the feed shows, while the
    shares of earlier revisions keep what they shared. Expired and archived items cannot change."""
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "image_url"):
        if changes.get(name) is not None:
            changes[name] = str(getattr(body, name))
    async with db.unit_of_work() as uow:
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.EDIT)
        image_url = changes.get("image_url", item.image_url)
        problems = lifecycle.image_problems(image_url, changes.get("image_alt", item.image_alt))
        if "expires_at" in changes:
            problems += lifecycle.schedule_problems(now, publish_at=item.publish_at, expires_at=body.expires_at)
        if problems:
            raise lifecycle.invalid(problems)
        changed = {name: value for name, value in changes.items() if getattr(item, name) != value}
        if not changed:
            return await _answer(uow, item)
        for name, value in changed.items():
            setattr(item, name, value)
        item.updated_at = now
        if "url" in changed:
            await request_link_preview(uow.session, org_id=item.org_id, item_id=item.id, url=item.url)
        if item.status == ContentStatus.PUBLISHED:
            await library.publish_revision(uow, item, caller.subject, now)
        return await _answer(uow, item)


@router.delete(
    "/content-items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=_TAG,
    operation_id="content-items-delete",
    responses=error_responses(409, s409="`conflict`: only a draft can be deleted (archive anything else)."),
)
async def delete_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> Response:
    """Deletes a draft and its earlier revisions (a draft that was published once: its shares keep
    theirs). Anything else is archived instead."""
    async with db.unit_of_work() as uow:
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.DELETE)
        library.withdraw(uow, item, ContentStatus.DRAFT, WithdrawalReason.DELETED, utcnow())
        await uow.session.delete(item)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/content-items/{item_id}/publish",
    tags=_TAG,
    operation_id="content-items-publish",
    responses=error_responses(409, s409="The item is already published, or has expired or is archived."),
)
async def publish_content_item(
    item_id: uuid.UUID,
    caller: Curator,
    db: DatabaseDep,
    body: Annotated[PublishRequest, Body()] = _PUBLISH_NOW,
) -> ContentItemPublic:
    """Publishes a draft or scheduled item now (``ContentPublished``), or, with ``publish_at``, schedules
    it: the scheduler publishes it then (again on a scheduled item: another time). The body is optional."""
    publish_at = body.publish_at
    now = utcnow()
    async with db.unit_of_work() as uow:
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.SCHEDULE if publish_at else Action.PUBLISH)
        problems = lifecycle.schedule_problems(now, publish_at=publish_at, expires_at=item.expires_at)
        if problems:
            raise lifecycle.invalid(problems)
        if publish_at is None:
            await library.publish_revision(uow, item, caller.subject, now)
        else:
            item.status = ContentStatus.SCHEDULED
            item.publish_at = publish_at
            item.published_by = caller.subject
            item.updated_at = now
        return await _answer(uow, item)


@router.post(
    "/content-items/{item_id}/unpublish",
    tags=_TAG,
    operation_id="content-items-unpublish",
    responses=error_responses(409, s409=_STATE),
)
async def unpublish_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Takes a published item out of the feed back to a draft (``ContentWithdrawn``: it can no longer
    be shared), or cancels a schedule; publishing it again publishes its next revision."""
    async with db.unit_of_work() as uow:
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.UNPUBLISH)
        was_published = item.status == ContentStatus.PUBLISHED
        now = utcnow()
        if was_published:
            library.withdraw(uow, item, ContentStatus.DRAFT, WithdrawalReason.UNPUBLISHED, now)
        else:
            item.status, item.publish_at, item.updated_at = ContentStatus.DRAFT, None, now
        return await _answer(uow, item)


@router.post(
    "/content-items/{item_id}/archive",
    tags=_TAG,
    operation_id="content-items-archive",
    responses=error_responses(409, s409=_STATE),
)
async def archive_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Archives the item for good: out of the feed, no longer shareable (``ContentWithdrawn``)."""
    async with db.unit_of_work() as uow:
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.ARCHIVE)
        library.withdraw(uow, item, ContentStatus.ARCHIVED, WithdrawalReason.ARCHIVED, utcnow())
        return await _answer(uow, item)


def _pin_problems(body: PinCreate, now: Any, loc: tuple[str, ...]) -> list[dict[str, Any]]:
    if body.pinned_until is not None and body.pinned_until <= now:
        return [{"loc": list(loc), "message": "pinned_until is in the past; give a future time"}]
    return []


@router.put(
    "/content-items/{item_id}/pin",
    tags=_TAG,
    operation_id="content-items-pin",
    responses=error_responses(409, s409="`conflict`: an expired or archived item cannot be pinned."),
)
async def pin_content_item(item_id: uuid.UUID, body: PinCreate, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Pins the item at ``position`` (1 = top; the pins from there move down one) until
    ``pinned_until``; on a pinned item, moves it (reorders) and sets its end."""
    now = utcnow()
    problems = _pin_problems(body, now, ("body", "pinned_until"))
    if problems:
        raise lifecycle.invalid(problems)
    async with db.unit_of_work() as uow:
        await library.lock_pins(uow.session, caller.org_id)
        item = await _locked(uow, caller, item_id)
        lifecycle.transition(item.status, Action.PIN)
        await library.pin(uow.session, item, body.position, body.pinned_until, now)
        return await _answer(uow, item)


@router.delete("/content-items/{item_id}/pin", tags=_TAG, operation_id="content-items-unpin")
async def unpin_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Unpins the item (the pins below move up one); an item not pinned stays as it is."""
    async with db.unit_of_work() as uow:
        await library.lock_pins(uow.session, caller.org_id)
        item = await _locked(uow, caller, item_id)
        await library.unpin(uow.session, item, utcnow())
        return await _answer(uow, item)


@router.get("/content-items/{item_id}/revisions", tags=_TAG, operation_id="content-items-list-revisions")
async def list_revisions(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> list[ContentRevisionPublic]:
    """Every revision the item was published in, newest first (few per item: not paginated)."""
    await _load(db, caller, item_id)
    async with db.read() as session:
        rows = (
            await session.scalars(
                select(ContentRevision)
                .where(col(ContentRevision.content_id) == item_id, col(ContentRevision.org_id) == caller.org_id)
                .order_by(col(ContentRevision.revision).desc())
            )
        ).all()
    return [ContentRevisionPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/feed", tags=["feed"], operation_id="feed-list", responses=error_responses(400))
async def get_feed(
    caller: CallerDep,
    db: DatabaseDep,
    limit: PageSize = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    before: Before = None,
    topic: Annotated[str | None, Query(min_length=1, max_length=100, description="Only items with this topic.")] = None,
    campaign_id: Annotated[
        uuid.UUID | None, Query(description="Only this campaign's items (none for a campaign of another org).")
    ] = None,
) -> FeedPage:
    """The caller's feed: published, unexpired items for them (their audience and their campaign's),
    pinned first, then by campaign priority, then newest; items the caller already shared come last,
    marked ``shared_by_me``. Each item carries its own ``cursor``."""
    if cursor and before is not None:
        raise ApiError(400, "invalid_cursor", "pass either cursor (read forward) or before (read backward), not both")
    position = cursor or before
    query = FeedQuery(
        limit=limit,
        cursor=Position.decode(position) if position else None,
        backward=before is not None,
        topic=topic,
        campaign_id=campaign_id,
    )
    profile = await profile_of(db, caller.org_id, caller.subject, caller.roles)
    return await read_feed(db, caller.org_id, caller.subject, profile, query, utcnow())


@router.put(
    "/content-items/{item_id}/audience",
    tags=["content-items"],
    operation_id="content-items-set-audience",
    responses=error_responses(404, 422),
)
async def set_item_audience(
    item_id: uuid.UUID, body: AudienceUpdate, caller: Curator, db: DatabaseDep
) -> ContentItemPublic:
    """Whom the item is for (with its campaign's audience: both must reach a member). Team ids must name
    teams of the org (422 ``unknown_teams`` naming the others). A published item is announced again
    (``ContentPublished``, same revision) so that sharing refuses shares outside the new audience."""
    known = await known_teams(db, caller.org_id, body.audience.team_ids)
    unknown_teams(body.audience, known, ["body", "audience"])
    async with db.unit_of_work() as uow:
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        for column, value in storage_of(body.audience).items():
            setattr(item, column, value)
        item.updated_at = utcnow()
        campaign = await uow.session.get(Campaign, item.campaign_id) if item.campaign_id else None
        if item.status == ContentStatus.PUBLISHED:
            await targeting.announce(uow, item, campaign, caller.subject)
    return _public(item, campaign)

"""REST API of the content service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from condividi.contracts.content_pb2 import ContentPublished
from condividi.db import Database, utcnow
from condividi.errors import ApiError, conflict, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before
from condividi.roster_copy import profile_of
from condividi.service import DatabaseDep
from services.content import targeting
from services.content.campaigns import AudienceUpdate, audience_of, storage_of, unknown_teams
from services.content.copies import known_teams
from services.content.feed import FeedPage, FeedQuery, Position, read_feed
from services.content.models import Campaign, ContentItem, ContentItemCreate, ContentItemPublic, ContentStatus

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def _public(item: ContentItem, campaign: Campaign | None = None) -> ContentItemPublic:
    public = ContentItemPublic.model_validate(item, from_attributes=True)
    public.audience = audience_of(item)
    public.campaign_audience = audience_of(campaign) if campaign is not None else None
    return public


async def _load(db: Database, caller: Caller, item_id: uuid.UUID) -> ContentItem:
    async with db.read() as session:
        item = await session.get(ContentItem, item_id)
    # Another org's id answers exactly like a missing one.
    if item is None or item.org_id != caller.org_id:
        raise not_found("content item")
    return item


@router.post(
    "/content-items", status_code=status.HTTP_201_CREATED, tags=["content-items"], operation_id="content-items-create"
)
async def create_content_item(body: ContentItemCreate, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Creates a draft; employees see it once it is published."""
    now = utcnow()
    item = ContentItem(
        org_id=caller.org_id,
        title=body.title,
        url=str(body.url),
        summary=body.summary,
        suggested_caption=body.suggested_caption,
        status=ContentStatus.DRAFT,
        created_by=caller.subject,
        created_at=now,
        updated_at=now,
    )
    async with db.unit_of_work() as uow:
        uow.session.add(item)
    return _public(item)


@router.get("/content-items/{item_id}", tags=["content-items"], operation_id="content-items-get")
async def get_content_item(item_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> ContentItemPublic:
    """An item; employees see it only published and when it is for them (its audience and its
    campaign's), else 404 as if it did not exist."""
    item = await _load(db, caller, item_id)
    campaign = await targeting.campaign_of(db, item)
    if not caller.has_any(Role.CURATOR, Role.ADMIN):
        if item.status != ContentStatus.PUBLISHED:
            raise not_found("content item")
        profile = await profile_of(db, caller.org_id, caller.subject, caller.roles)
        if not targeting.reaches(item, campaign, profile):
            raise not_found("content item")
    return _public(item, campaign)


@router.post(
    "/content-items/{item_id}/publish",
    tags=["content-items"],
    operation_id="content-items-publish",
    responses=error_responses(409, s409="The item is already published."),
)
async def publish_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Publishes a draft to the feed and announces it with ``ContentPublished``."""
    async with db.unit_of_work() as uow:
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        if item.status == ContentStatus.PUBLISHED:
            raise conflict("the content item is already published")
        item.status = ContentStatus.PUBLISHED
        item.published_at = item.updated_at = utcnow()
        item.revision = 1
        campaign = await uow.session.get(Campaign, item.campaign_id) if item.campaign_id else None
        uow.emit(
            ContentPublished(
                content_id=str(item.id),
                title=item.title,
                url=item.url,
                summary=item.summary,
                suggested_caption=item.suggested_caption,
                published_by=caller.subject,
                **targeting.published_audience(item, campaign),
            ),
            org_id=item.org_id,
            aggregate_id=item.id,
        )
    return _public(item)


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
            targeting.announce(uow, item, campaign, caller.subject)
    return _public(item, campaign)

"""REST API of campaigns: create, change, archive, list, get; add and remove items; a campaign's items.
Curators and admins only. Every change is announced with ``CampaignChanged``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from condividi.contracts.content_pb2 import CampaignChanged
from condividi.db import Database, UnitOfWork, utcnow
from condividi.errors import conflict, not_found
from condividi.identity import Caller, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.content import targeting
from services.content.campaigns import (
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    audience_of,
    check_dates,
    default_utm_campaign,
    storage_of,
    unknown_teams,
)
from services.content.copies import known_teams
from services.content.models import Campaign, ContentItem, ContentItemPublic, ContentStatus

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]
_DUPLICATE = "The org already has a campaign with that name (`conflicting_id` names it)."


def public(campaign: Campaign) -> CampaignPublic:
    return CampaignPublic.model_validate({**campaign.model_dump(exclude={"org_id"}), "audience": audience_of(campaign)})


async def _existing_named(db: Database, org_id: uuid.UUID, name: str) -> uuid.UUID | None:
    async with db.read() as session:
        return await session.scalar(
            select(Campaign.id).where(col(Campaign.org_id) == org_id, col(Campaign.name) == name)
        )


async def _locked(uow: UnitOfWork, caller: Caller, campaign_id: uuid.UUID) -> Campaign:
    campaign = await uow.session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.org_id != caller.org_id:
        raise not_found("campaign")
    return campaign


async def _item_ids(uow: UnitOfWork, campaign_id: uuid.UUID) -> list[str]:
    ids = await uow.session.scalars(select(ContentItem.id).where(col(ContentItem.campaign_id) == campaign_id))
    return [str(i) for i in ids.all()]


async def _announce(
    uow: UnitOfWork,
    campaign: Campaign,
    by: str,
    *,
    removed: Sequence[uuid.UUID] = (),
    reannounce: bool = False,
) -> None:
    """``CampaignChanged``; with ``reannounce``, its published items again (``ContentPublished``), since
    what they carry of the campaign (audience, disclosure, UTM name) changed."""
    change = CampaignChanged(
        campaign_id=str(campaign.id),
        name=campaign.name,
        utm_campaign=campaign.utm_campaign,
        required_disclosure=campaign.required_disclosure,
        required_certification_id=str(campaign.required_certification_id or ""),
        priority=campaign.priority,
        archived=campaign.archived_at is not None,
        target_team_ids=[str(t) for t in campaign.target_team_ids],
        target_locations=list(campaign.target_locations),
        target_languages=list(campaign.target_languages),
        target_roles=list(campaign.target_roles),
        content_ids=await _item_ids(uow, campaign.id),
        removed_content_ids=[str(i) for i in removed],
    )
    if campaign.starts_at is not None:
        change.starts_at.FromDatetime(campaign.starts_at)
    if campaign.ends_at is not None:
        change.ends_at.FromDatetime(campaign.ends_at)
    uow.emit(change, org_id=campaign.org_id, aggregate_id=campaign.id)
    if reannounce:
        items = await uow.session.scalars(
            select(ContentItem).where(
                col(ContentItem.campaign_id) == campaign.id, col(ContentItem.status) == ContentStatus.PUBLISHED
            )
        )
        for item in items.all():
            await targeting.announce(uow, item, campaign, by)


@router.post(
    "/campaigns",
    status_code=status.HTTP_201_CREATED,
    tags=["campaigns"],
    operation_id="campaigns-create",
    responses=error_responses(409, 422, s409=_DUPLICATE),
)
async def create_campaign(body: CampaignCreate, caller: Curator, db: DatabaseDep) -> CampaignPublic:
    """A campaign; its `utm_campaign` defaults to a slug of its name. Team ids in its audience must name
    teams of the org (422 ``unknown_teams``)."""
    check_dates(body.starts_at, body.ends_at)
    unknown_teams(body.audience, await known_teams(db, caller.org_id, body.audience.team_ids), ["body", "audience"])
    now = utcnow()
    campaign = Campaign(
        org_id=caller.org_id,
        name=body.name,
        goal=body.goal,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        utm_campaign=body.utm_campaign or default_utm_campaign(body.name),
        required_disclosure=body.required_disclosure,
        priority=body.priority,
        created_by=caller.subject,
        created_at=now,
        updated_at=now,
        **storage_of(body.audience),
    )
    try:
        async with db.unit_of_work() as uow:
            uow.session.add(campaign)
            await uow.session.flush()
            await _announce(uow, campaign, caller.subject)
    except IntegrityError as exc:
        existing = await _existing_named(db, caller.org_id, body.name)
        if existing is None:
            raise
        raise conflict(f"the org already has a campaign named {body.name!r}", existing) from exc
    return public(campaign)


@router.get("/campaigns", tags=["campaigns"], operation_id="campaigns-list", responses=error_responses(400))
async def list_campaigns(
    caller: Curator,
    db: DatabaseDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
    before: Before = None,
    include_archived: Annotated[bool, Query(description="Archived campaigns too.")] = False,
) -> Page[CampaignPublic]:
    """The org's campaigns, newest first."""
    query = select(Campaign).where(col(Campaign.org_id) == caller.org_id)
    if not include_archived:
        query = query.where(col(Campaign.archived_at).is_(None))
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session,
            query,
            sort=col(Campaign.created_at),
            row_id=col(Campaign.id),
            limit=limit,
            cursor=cursor,
            before=before,
        )
    return Page[CampaignPublic](items=[public(c) for c in rows], next_cursor=next_cursor)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"], operation_id="campaigns-get")
async def get_campaign(campaign_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> CampaignPublic:
    return public(await targeting.campaign_in_org(db, caller.org_id, campaign_id, []))


@router.patch(
    "/campaigns/{campaign_id}",
    tags=["campaigns"],
    operation_id="campaigns-update",
    responses=error_responses(409, 422, s409=_DUPLICATE),
)
async def update_campaign(
    campaign_id: uuid.UUID, body: CampaignUpdate, caller: Curator, db: DatabaseDep
) -> CampaignPublic:
    """Changes the fields sent (``null`` clears a date). Its published items are
    announced again when what they carry of it changes (audience, disclosure, UTM name, certification)."""
    sent = body.model_fields_set
    if body.audience is not None:
        known = await known_teams(db, caller.org_id, body.audience.team_ids)
        unknown_teams(body.audience, known, ["body", "audience"])
    try:
        async with db.unit_of_work() as uow:
            campaign = await _locked(uow, caller, campaign_id)
            carried = _carried(campaign)
            for field in ("name", "goal", "utm_campaign", "required_disclosure", "priority"):
                value = getattr(body, field)
                if field in sent and value is not None:
                    setattr(campaign, field, value)
            for field in ("starts_at", "ends_at"):
                if field in sent:
                    setattr(campaign, field, getattr(body, field))
            if body.audience is not None:
                for column, value in storage_of(body.audience).items():
                    setattr(campaign, column, value)
            check_dates(campaign.starts_at, campaign.ends_at)
            campaign.updated_at = utcnow()
            await uow.session.flush()
            await _announce(uow, campaign, caller.subject, reannounce=_carried(campaign) != carried)
    except IntegrityError as exc:
        existing = await _existing_named(db, caller.org_id, body.name or "")
        if existing is None:
            raise
        raise conflict(f"the org already has a campaign named {body.name!r}", existing) from exc
    return public(campaign)


def _carried(campaign: Campaign) -> tuple[object, ...]:
    """What a published item's ``ContentPublished`` carries of its campaign."""
    return (
        campaign.utm_campaign,
        campaign.required_disclosure,
        campaign.required_certification_id,
        sorted(campaign.target_team_ids),
        sorted(campaign.target_locations),
        sorted(campaign.target_languages),
        sorted(campaign.target_roles),
    )


@router.post(
    "/campaigns/{campaign_id}/archive",
    tags=["campaigns"],
    operation_id="campaigns-archive",
    responses=error_responses(409, s409="The campaign is already archived."),
)
async def archive_campaign(campaign_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> CampaignPublic:
    """Archives it: its items leave every feed (they stay in the library)."""
    async with db.unit_of_work() as uow:
        campaign = await _locked(uow, caller, campaign_id)
        if campaign.archived_at is not None:
            raise conflict("the campaign is already archived")
        campaign.archived_at = campaign.updated_at = utcnow()
        await _announce(uow, campaign, caller.subject)
    return public(campaign)


@router.put(
    "/campaigns/{campaign_id}/items/{item_id}",
    tags=["campaigns"],
    operation_id="campaigns-add-item",
    responses=error_responses(404),
)
async def add_campaign_item(
    campaign_id: uuid.UUID, item_id: uuid.UUID, caller: Curator, db: DatabaseDep
) -> ContentItemPublic:
    """Puts the item in the campaign (taking it out of any other). Adding it again changes nothing."""
    async with db.unit_of_work() as uow:
        campaign = await _locked(uow, caller, campaign_id)
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        if item.campaign_id != campaign.id:
            previous = item.campaign_id
            await uow.session.execute(
                update(ContentItem)
                .where(col(ContentItem.id) == item.id)
                .values(campaign_id=campaign.id, updated_at=utcnow())
            )
            await uow.session.refresh(item)
            if previous is not None:
                earlier = await uow.session.get(Campaign, previous, with_for_update=True)
                if earlier is not None:
                    await _announce(uow, earlier, caller.subject, removed=[item.id])
            await _announce(uow, campaign, caller.subject)
            if item.status == ContentStatus.PUBLISHED:
                await targeting.announce(uow, item, campaign, caller.subject)
    return _item_public(item, campaign)


@router.delete(
    "/campaigns/{campaign_id}/items/{item_id}",
    tags=["campaigns"],
    operation_id="campaigns-remove-item",
    responses=error_responses(404),
)
async def remove_campaign_item(
    campaign_id: uuid.UUID, item_id: uuid.UUID, caller: Curator, db: DatabaseDep
) -> ContentItemPublic:
    """Takes the item out of the campaign (404 when it is not in it)."""
    async with db.unit_of_work() as uow:
        campaign = await _locked(uow, caller, campaign_id)
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id or item.campaign_id != campaign.id:
            raise not_found("content item")
        await uow.session.execute(
            update(ContentItem).where(col(ContentItem.id) == item.id).values(campaign_id=None, updated_at=utcnow())
        )
        await uow.session.refresh(item)
        await _announce(uow, campaign, caller.subject, removed=[item.id])
        if item.status == ContentStatus.PUBLISHED:
            await targeting.announce(uow, item, None, caller.subject)
    return _item_public(item, None)


@router.get(
    "/campaigns/{campaign_id}/items",
    tags=["campaigns"],
    operation_id="campaigns-list-items",
    responses=error_responses(400, 404),
)
async def list_campaign_items(
    campaign_id: uuid.UUID,
    caller: Curator,
    db: DatabaseDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
    before: Before = None,
) -> Page[ContentItemPublic]:
    """The campaign's items, whatever their status, newest first."""
    campaign = await targeting.campaign_in_org(db, caller.org_id, campaign_id, [])
    query = select(ContentItem).where(
        col(ContentItem.org_id) == caller.org_id, col(ContentItem.campaign_id) == campaign.id
    )
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session,
            query,
            sort=col(ContentItem.created_at),
            row_id=col(ContentItem.id),
            limit=limit,
            cursor=cursor,
            before=before,
        )
    return Page[ContentItemPublic](items=[_item_public(i, campaign) for i in rows], next_cursor=next_cursor)


def _item_public(item: ContentItem, campaign: Campaign | None) -> ContentItemPublic:
    public_item = ContentItemPublic.model_validate(item, from_attributes=True)
    public_item.audience = audience_of(item)
    public_item.campaign_audience = audience_of(campaign) if campaign is not None else None
    return public_item

"""Whom an item is for, as content applies it outside the feed's SQL: one item's answer (404 for a member
it does not reach) and the audience fields of ``ContentPublished`` (20-27) that sharing checks shares by."""

from __future__ import annotations

import uuid
from typing import Any

from condividi.audience import Profile
from condividi.contracts.content_pb2 import ContentPublished
from condividi.db import Database, UnitOfWork
from condividi.errors import not_found
from services.content.campaigns import keys_of
from services.content.models import Campaign, ContentItem


async def campaign_of(db: Database, item: ContentItem) -> Campaign | None:
    if item.campaign_id is None:
        return None
    async with db.read() as session:
        return await session.get(Campaign, item.campaign_id)


async def campaign_in_org(db: Database, org_id: uuid.UUID, campaign_id: uuid.UUID, loc: list[str | int]) -> Campaign:
    """The org's campaign; another org's id answers like a missing one."""
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.org_id != org_id:
        raise not_found("campaign", loc)
    return campaign


def reaches(item: ContentItem, campaign: Campaign | None, member: Profile) -> bool:
    """The feed's rule for one item: its audience and its campaign's (an archived campaign's items are
    for no one) reach the member."""
    if campaign is not None and (campaign.archived_at is not None or not keys_of(campaign).reaches(member)):
        return False
    return keys_of(item).reaches(member)


NOBODY = str(uuid.UUID(int=0))


def published_audience(item: ContentItem, campaign: Campaign | None) -> dict[str, Any]:
    """``ContentPublished`` fields 20-27: the stored keys of the item's audience and its campaign's."""
    fields: dict[str, Any] = {
        "target_team_ids": [str(t) for t in item.target_team_ids],
        "target_locations": list(item.target_locations),
        "target_languages": list(item.target_languages),
        "target_roles": list(item.target_roles),
    }
    if campaign is not None:
        # An archived campaign's items are for no one: a team nobody is in says so to consumers that
        # keep only the audience (sharing's catalog does the same on CampaignChanged).
        teams = [NOBODY] if campaign.archived_at is not None else [str(t) for t in campaign.target_team_ids]
        fields |= {
            "campaign_target_team_ids": teams,
            "campaign_target_locations": list(campaign.target_locations),
            "campaign_target_languages": list(campaign.target_languages),
            "campaign_target_roles": list(campaign.target_roles),
        }
    return fields


def announce(uow: UnitOfWork, item: ContentItem, campaign: Campaign | None, by: str) -> None:
    """``ContentPublished`` again for a published item whose audience (or its campaign) changed, at the
    same revision: consumers keep the newest copy of the item."""
    uow.emit(
        ContentPublished(
            content_id=str(item.id),
            title=item.title,
            url=item.url,
            summary=item.summary,
            suggested_caption=item.suggested_caption,
            published_by=by,
            campaign_id=str(item.campaign_id or ""),
            utm_campaign=campaign.utm_campaign if campaign is not None else "",
            required_disclosure=campaign.required_disclosure if campaign is not None else "",
            required_certification_id=str(campaign.required_certification_id or "") if campaign is not None else "",
            topics=list(item.topics),
            revision=item.revision,
            **published_audience(item, campaign),
        ),
        org_id=item.org_id,
        aggregate_id=item.id,
    )

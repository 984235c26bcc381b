"""Whom an item is for, as content applies it outside the feed's SQL: one item's answer (404 for a member
it does not reach) and the audience fields of ``ContentPublished`` (20-27) that sharing checks shares by."""

from __future__ import annotations

import uuid

from condividi.audience import Profile
from condividi.db import Database, UnitOfWork
from condividi.errors import not_found
from services.content import library
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


async def announce(uow: UnitOfWork, item: ContentItem, campaign: Campaign | None, by: str) -> None:
    """``ContentPublished`` again for a published item whose audience (or its campaign) changed, at the
    same revision: consumers keep the newest copy of the item."""
    await library.announce(uow, item, campaign, by)

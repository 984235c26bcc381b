"""The library's use cases on the stored rows, shared by the REST routes and the scheduler: publishing a
revision (with its event), withdrawing an item (with its event), and the org's pins."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from condividi.db import UnitOfWork
from services.content import lifecycle
from services.content.events import content_published, content_withdrawn
from services.content.models import Campaign, ContentCaption, ContentItem, ContentRevision, ContentStatus

# Statuses whose pins count: an archived or expired item's pin is over.
PINNABLE = (ContentStatus.DRAFT, ContentStatus.SCHEDULED, ContentStatus.PUBLISHED)


async def campaign_of(session: AsyncSession, item: ContentItem) -> Campaign | None:
    if item.campaign_id is None:
        return None
    return await session.get(Campaign, item.campaign_id)


async def publish_revision(uow: UnitOfWork, item: ContentItem, published_by: str, now: datetime) -> None:
    """Makes the item's current fields its next published revision: kept in content_revisions (the
    shares of earlier revisions keep theirs) and announced with ``ContentPublished``."""
    first = item.status != ContentStatus.PUBLISHED
    item.status = ContentStatus.PUBLISHED
    if first:
        item.published_at = now
    item.publish_at = None
    item.revision += 1
    item.published_by = published_by
    item.updated_at = now
    uow.session.add(
        ContentRevision(
            content_id=item.id,
            revision=item.revision,
            org_id=item.org_id,
            title=item.title,
            url=item.url,
            summary=item.summary,
            suggested_caption=item.suggested_caption,
            topics=list(item.topics),
            image_url=item.image_url,
            image_alt=item.image_alt,
            expires_at=item.expires_at,
            published_by=published_by,
            published_at=now,
        )
    )
    await announce(uow, item, await campaign_of(uow.session, item), published_by)


async def announce(uow: UnitOfWork, item: ContentItem, campaign: Campaign | None, published_by: str) -> None:
    """``ContentPublished`` for the item as it is now, with its campaign and its captions: on each new
    revision, and again at the same revision when its audience, campaign or captions change (consumers
    keep the newest copy)."""
    captions = (
        await uow.session.scalars(select(ContentCaption).where(col(ContentCaption.content_id) == item.id))
    ).all()
    uow.emit(content_published(item, campaign, published_by, captions), org_id=item.org_id, aggregate_id=item.id)


def withdraw(uow: UnitOfWork, item: ContentItem, to: ContentStatus, reason: str, now: datetime) -> None:
    """Takes the item out of the feed (its pin too) and tells sharing it can no longer be shared."""
    item.status = to
    item.updated_at = now
    item.publish_at = None
    item.pinned_position = None
    item.pinned_until = None
    if to == ContentStatus.ARCHIVED:
        item.archived_at = now
    uow.emit(content_withdrawn(item, reason), org_id=item.org_id, aggregate_id=item.id)


def active_pin(item: ContentItem, now: datetime) -> bool:
    return (
        item.pinned_position is not None
        and item.status in PINNABLE
        and (item.pinned_until is None or item.pinned_until > now)
    )


async def lock_pins(session: AsyncSession, org_id: uuid.UUID) -> None:
    """One pin change at a time per org: positions are computed from the list of pins read after this.
    Taken before any item row is locked, and whatever locks an item row without it never waits for
    it: no deadlock."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"pins:{org_id}"})


async def _current_pins(session: AsyncSession, org_id: uuid.UUID, now: datetime) -> list[ContentItem]:
    """The org's pinned items, top first (``lock_pins`` taken); pins that have ended are cleared on the
    way (so positions close up behind them)."""
    rows = (
        await session.scalars(
            select(ContentItem)
            .where(col(ContentItem.org_id) == org_id, col(ContentItem.pinned_position).is_not(None))
            .order_by(col(ContentItem.pinned_position), col(ContentItem.id))
            .with_for_update()
        )
    ).all()
    current = []
    for row in rows:
        if active_pin(row, now):
            current.append(row)
        else:
            row.pinned_position = None
            row.pinned_until = None
    return current


def _apply(pins: Sequence[lifecycle.Pin], items: dict[uuid.UUID, ContentItem], now: datetime) -> None:
    for pin in pins:
        item = items[pin.item_id]
        if item.pinned_position != pin.position:
            item.pinned_position = pin.position
            item.updated_at = now


async def pin(session: AsyncSession, item: ContentItem, position: int, until: datetime | None, now: datetime) -> None:
    current = await _current_pins(session, item.org_id, now)
    items = {i.id: i for i in current} | {item.id: item}
    _apply(lifecycle.pin_at([i.id for i in current], item.id, position), items, now)
    item.pinned_until = until
    item.updated_at = now


async def unpin(session: AsyncSession, item: ContentItem, now: datetime) -> None:
    current = await _current_pins(session, item.org_id, now)
    _apply(lifecycle.unpin([i.id for i in current], item.id), {i.id: i for i in current}, now)
    item.pinned_position = None
    item.pinned_until = None
    item.updated_at = now


def due_for_publishing(now: datetime, limit: int) -> SelectOfScalar[ContentItem]:
    return (
        select(ContentItem)
        .where(col(ContentItem.status) == ContentStatus.SCHEDULED, col(ContentItem.publish_at) <= now)
        .order_by(col(ContentItem.publish_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def due_for_expiry(now: datetime, limit: int) -> SelectOfScalar[ContentItem]:
    return (
        select(ContentItem)
        .where(
            col(ContentItem.status) == ContentStatus.PUBLISHED,
            col(ContentItem.expires_at).is_not(None),
            col(ContentItem.expires_at) <= now,
        )
        .order_by(col(ContentItem.expires_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )

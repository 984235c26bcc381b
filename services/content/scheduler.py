"""Publishes scheduled items when they are due and expires published items whose expiry has passed.

Every ``SCHEDULER_INTERVAL_SECONDS`` each replica looks. Safe with several replicas: due rows are taken
with ``FOR UPDATE SKIP LOCKED``, so two replicas never take the same item at once, and the one that
takes it changes its status in the same transaction (the other then no longer finds it due). A curator
acting on the item meanwhile holds its row too: the scheduler skips it until the next look, and then
reads what the curator left (unscheduled, archived...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from prometheus_client import Counter

from condividi.db import Database, utcnow
from services.content import library
from services.content.events import WithdrawalReason
from services.content.models import ContentStatus
from services.content.settings import ContentSettings

log = logging.getLogger(__name__)

SCHEDULED_PUBLISHED = Counter("content_scheduled_published_total", "Scheduled items the scheduler published")
EXPIRED = Counter("content_expired_total", "Published items the scheduler expired")
BATCH = 200


async def publish_due(db: Database, now: datetime | None = None) -> int:
    """One look: publishes up to a batch of scheduled items whose time has come; returns how many."""
    now = now or utcnow()
    async with db.unit_of_work() as uow:
        due = (await uow.session.scalars(library.due_for_publishing(now, BATCH))).all()
        for item in due:
            # In the name of whoever scheduled it.
            await library.publish_revision(uow, item, item.published_by or item.created_by, now)
    SCHEDULED_PUBLISHED.inc(len(due))
    return len(due)


async def expire_due(db: Database, now: datetime | None = None) -> int:
    """One look: expires up to a batch of published items whose expiry has passed; returns how many."""
    now = now or utcnow()
    async with db.unit_of_work() as uow:
        due = (await uow.session.scalars(library.due_for_expiry(now, BATCH))).all()
        for item in due:
            library.withdraw(uow, item, ContentStatus.EXPIRED, WithdrawalReason.EXPIRED, now)
    EXPIRED.inc(len(due))
    return len(due)


class Scheduler:
    """Runs ``publish_due`` then ``expire_due`` every interval while the service runs."""

    def __init__(self, db: Database, settings: ContentSettings) -> None:
        self.db = db
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="content-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.SCHEDULER_INTERVAL_SECONDS)
            try:
                # A backlog (the service was down at the hour): keep going rather than wait an interval a batch.
                while await publish_due(self.db) == BATCH:
                    pass
                while await expire_due(self.db) == BATCH:
                    pass
            except Exception:
                log.warning("the content scheduler's look failed; trying again next interval", exc_info=True)

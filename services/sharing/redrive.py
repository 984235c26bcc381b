"""Shares stuck waiting for policy are asked for again.

A share waits in ``pending_policy`` until policy's ``ShareDecision`` arrives. If the request or the
decision never arrives (a broker that lost its log, as the local broker's memory storage does when it
restarts; a topic deleted by mistake), the share would wait forever. So every
``SHARE_REDRIVE_INTERVAL_SECONDS`` each replica looks for shares pending longer than
``SHARE_POLICY_TIMEOUT_SECONDS`` and emits ``ShareRequested`` for them again.

Safe with several replicas: the rows are taken with ``FOR UPDATE SKIP LOCKED`` (two replicas never
re-drive the same share at once) and their ``updated_at`` moves on, so the next look waits another
timeout. Safe against a decision crossing the re-drive: policy decides once per share and answers a
repeated request with the decision it made (services/policy/handlers.py), and sharing applies a decision
only to a share still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlmodel import col, select

from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import Database, utcnow
from services.sharing.links import tracking_url
from services.sharing.models import Share, ShareStatus
from services.sharing.settings import SharingSettings

log = logging.getLogger(__name__)

SHARES_REDRIVEN = Counter("shares_redriven_total", "ShareRequested emitted again for shares pending too long")
_BATCH = 200


def share_requested(share: Share, settings: SharingSettings) -> ShareRequested:
    """What policy is asked to decide, as the API first asks it."""
    return ShareRequested(
        share_id=str(share.id),
        member_id=share.member_id,
        content_id=str(share.content_id),
        network=share.network,
        text=share.text,
        url=tracking_url(settings.PUBLIC_BASE_URL, share.tracking_code),
        campaign_id=str(share.campaign_id) if share.campaign_id else "",
        required_disclosure=share.required_disclosure,
        personal_touch=share.personal_touch,
    )


async def redrive_pending(db: Database, settings: SharingSettings, now: datetime | None = None) -> int:
    """One look: re-emits ShareRequested for up to a batch of shares pending longer than the timeout;
    returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.SHARE_POLICY_TIMEOUT_SECONDS)
    async with db.unit_of_work() as uow:
        stuck = (
            (
                await uow.session.execute(
                    select(Share)
                    .where(col(Share.status) == ShareStatus.PENDING_POLICY, col(Share.updated_at) < cutoff)
                    .order_by(col(Share.updated_at))
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for share in stuck:
            share.updated_at = now
            uow.emit(share_requested(share, settings), org_id=share.org_id, aggregate_id=share.id)
    if stuck:
        SHARES_REDRIVEN.inc(len(stuck))
        log.warning("shares pending policy too long: asked again", extra={"shares": len(stuck)})
    return len(stuck)


class Redriver:
    """Runs ``redrive_pending`` every interval while the service runs."""

    def __init__(self, db: Database, settings: SharingSettings) -> None:
        self.db = db
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="share-redrive")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.SHARE_REDRIVE_INTERVAL_SECONDS)
            try:
                while await redrive_pending(self.db, self.settings) == _BATCH:
                    pass  # a backlog: keep going rather than wait an interval per batch
            except Exception:
                log.warning("re-driving pending shares failed", exc_info=True)

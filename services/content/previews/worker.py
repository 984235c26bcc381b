"""Asking for a link's preview, and the worker that fetches it outside any request.

``request_link_preview`` is called, in the same transaction, wherever an item's link is set (created or
changed) and by the curators' refresh: it makes the (item, URL) row pending again. Each replica's
``PreviewWorker`` then looks every ``PREVIEW_POLL_SECONDS`` for pending rows and takes a few with
``FOR UPDATE SKIP LOCKED`` (two replicas never take the same row), holding them with a lease rather than
a transaction: the fetch takes seconds and must not keep a database connection. A worker that dies
leaves its lease to run out; another takes the row then. A refresh during a fetch bumps the row's
generation, and the late fetch's result is thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import Database, utcnow
from condividi.safe_fetch import FetchPolicy, Resolver, system_resolver
from condividi.service import ServiceRuntime
from services.content.previews.doctor import Snapshot, diagnose
from services.content.previews.fetcher import fetch_snapshot
from services.content.previews.models import LinkPreview, PreviewStatus
from services.content.settings import ContentSettings

log = logging.getLogger(__name__)

PREVIEWS_FETCHED = Counter("link_previews_fetched_total", "Link previews fetched, by outcome", ["status"])
# A lease covers the fetch's whole time cap (page and image) with room to write the result.
LEASE = timedelta(seconds=60)
BATCH = 20
# Failures that may pass (the site was down a moment) are tried again, this many times in all.
RETRIED_CODES = frozenset({"timeout", "connect_failed", "dns_failed", "fetch_failed"})
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=30)


async def request_link_preview(session: AsyncSession, *, org_id: uuid.UUID, item_id: uuid.UUID, url: str) -> None:
    """Asks for the preview of ``item_id``'s link ``url`` (again): call it in the transaction that sets
    the link. The item must be added to ``session`` already."""
    await session.flush()  # the item's row first: the preview refers to it
    now = utcnow()
    statement = insert(LinkPreview).values(
        id=uuid.uuid4(),
        org_id=org_id,
        item_id=item_id,
        url=url,
        status=PreviewStatus.PENDING.value,
        generation=0,
        attempts=0,
        requested_at=now,
        redirects=[],
        findings=[],
    )
    table = LinkPreview.__table__  # type: ignore[attr-defined]
    await session.execute(
        statement.on_conflict_do_update(
            constraint="link_previews_item_url",
            set_={
                "status": PreviewStatus.PENDING.value,
                "generation": table.c.generation + 1,
                "attempts": 0,
                "requested_at": now,
                "lease_until": None,
            },
        )
    )


async def claim(db: Database, *, limit: int = BATCH, now: datetime | None = None) -> list[tuple[uuid.UUID, str, int]]:
    """Takes up to ``limit`` pending previews for this worker: (id, url, generation) of each."""
    now = now or utcnow()
    async with db.unit_of_work() as uow:
        rows = (
            (
                await uow.session.execute(
                    select(LinkPreview)
                    .where(col(LinkPreview.status) == PreviewStatus.PENDING)
                    .where((col(LinkPreview.lease_until).is_(None)) | (col(LinkPreview.lease_until) < now))
                    .order_by(col(LinkPreview.requested_at))
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.lease_until = now + LEASE
            row.attempts += 1
        return [(row.id, row.url, row.generation) for row in rows]


def outcome(snapshot: Snapshot, attempts: int) -> dict[str, object]:
    """The columns a fetch's result writes (a pure function: what the worker stores is tested here)."""
    findings = [{**asdict(f), "severity": f.severity.value} for f in diagnose(snapshot)]
    meta = snapshot.meta
    values: dict[str, object] = {
        "findings": findings,
        "redirects": [{"url": u, "status": s} for u, s in snapshot.hops[:-1]],
        "final_url": snapshot.final_url,
        "http_status": snapshot.status,
        "title": meta.title if meta else None,
        "description": meta.description if meta else None,
        "image_url": meta.image_url if meta else None,
        "image_width": snapshot.image_width,
        "image_height": snapshot.image_height,
        "canonical_url": meta.canonical_url if meta else None,
        "site_name": meta.site_name if meta else None,
        "robots": ", ".join(v for v in ((meta.robots if meta else None) or "", snapshot.x_robots_tag) if v) or None,
        "error": snapshot.error_message,
    }
    if snapshot.error_code is None:
        values["status"] = PreviewStatus.READY.value
    elif snapshot.error_code in RETRIED_CODES and attempts < MAX_ATTEMPTS:
        values["status"] = PreviewStatus.PENDING.value  # once more, after a while
        values["lease_until"] = utcnow() + RETRY_AFTER * attempts
        return values
    else:
        values["status"] = PreviewStatus.FAILED.value
    values["lease_until"] = None
    return values


async def fetch_one(
    db: Database, policy: FetchPolicy, preview_id: uuid.UUID, url: str, generation: int, resolve: Resolver
) -> None:
    snapshot = await fetch_snapshot(url, policy, resolve)
    async with db.unit_of_work() as uow:
        row = await uow.session.get(LinkPreview, preview_id, with_for_update=True)
        if row is None or row.generation != generation:
            return  # refreshed (or the item deleted) meanwhile: the newer request's fetch writes
        values = outcome(snapshot, row.attempts)
        await uow.session.execute(
            update(LinkPreview).where(col(LinkPreview.id) == preview_id).values(fetched_at=utcnow(), **values)
        )
    PREVIEWS_FETCHED.labels(str(values["status"])).inc()


async def fetch_due(
    db: Database, policy: FetchPolicy, *, concurrency: int = 4, resolve: Resolver = system_resolver
) -> int:
    """One look: fetches what is pending (a batch at most); returns how many were taken."""
    taken = await claim(db)
    gate = asyncio.Semaphore(concurrency)

    async def one(preview_id: uuid.UUID, url: str, generation: int) -> None:
        async with gate:
            try:
                await fetch_one(db, policy, preview_id, url, generation, resolve)
            except Exception:
                # The lease runs out and another look takes it again.
                log.warning("link preview fetch failed", exc_info=True, extra={"preview_id": str(preview_id)})

    await asyncio.gather(*(one(*t) for t in taken))
    return len(taken)


class PreviewWorker:
    """Runs ``fetch_due`` every interval while the service runs."""

    def __init__(self, db: Database, policy: FetchPolicy, *, poll_seconds: float, concurrency: int) -> None:
        self.db = db
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="link-previews")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await fetch_due(self.db, self.policy, concurrency=self.concurrency) == BATCH:
                    pass  # a backlog: keep going rather than wait an interval per batch
            except Exception:
                log.warning("looking for link previews to fetch failed", exc_info=True)
            await asyncio.sleep(self.poll_seconds)


def start_preview_worker(settings: ContentSettings) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """The content service's ``on_startup`` step that runs the worker (stopped first at shutdown)."""

    async def start(runtime: ServiceRuntime) -> None:
        worker = PreviewWorker(
            runtime.db,
            settings.preview_fetch_policy(),
            poll_seconds=settings.PREVIEW_POLL_SECONDS,
            concurrency=settings.PREVIEW_CONCURRENCY,
        )
        worker.start()
        runtime.on_stop.append(worker.stop)

    return start

"""The relay: publishes committed outbox rows to Kafka, in order, then marks them published.

Only one relay of a service publishes at a time (a PostgreSQL advisory lock), so events keep their
commit order even with several replicas. A crash between Kafka's ack and the ``published_at`` update
publishes a row twice; consumers' inboxes make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from condividi.db import Database, utcnow
from condividi.observability import EVENTS_PUBLISHED

log = logging.getLogger(__name__)

BATCH_SIZE = 500
RETENTION = timedelta(days=7)

_CLAIM = text(
    "SELECT id, topic, key, event_id, event_type, envelope FROM outbox "
    "WHERE published_at IS NULL ORDER BY id LIMIT :limit"
)
_MARK = text("UPDATE outbox SET published_at = :now WHERE id = ANY(:ids)")
_PRUNE = text("DELETE FROM outbox WHERE published_at < :before")


class OutboxRelay:
    def __init__(self, db: Database, producer: AIOKafkaProducer, *, poll_seconds: float) -> None:
        self.db = db
        self.producer = producer
        self.poll_seconds = poll_seconds
        # Per-service lock id: services may share one PostgreSQL server in small set-ups.
        self.lock_id = zlib.crc32(f"outbox-relay:{db.producer}".encode())
        self._stopping = asyncio.Event()
        self._pruned_at = utcnow()

    async def publish_pending(self) -> int:
        """Publishes one batch; returns how many rows it published (0 when idle or not the leader)."""
        async with self.db.engine.begin() as connection:
            leader = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": self.lock_id})
            if not leader:
                return 0
            rows = (await connection.execute(_CLAIM, {"limit": BATCH_SIZE})).all()
            if not rows:
                return 0
            deliveries = [
                await self.producer.send(
                    row.topic,
                    value=row.envelope,
                    key=row.key.encode(),
                    headers=[("event_id", str(row.event_id).encode()), ("type", row.event_type.encode())],
                )
                for row in rows
            ]
            await asyncio.gather(*deliveries)
            await connection.execute(_MARK, {"now": utcnow(), "ids": [row.id for row in rows]})
        for row in rows:
            EVENTS_PUBLISHED.labels(row.topic).inc()
        return len(rows)

    async def run(self) -> None:
        while not self._stopping.is_set():
            # Cleared before looking, so a commit that lands during the look still wakes the next wait.
            self.db.outbox_written.clear()
            try:
                published = await self.publish_pending()
                await self._prune_now_and_then()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                published = 0
                await self._sleep(max(self.poll_seconds, 1.0))
                continue
            if published == 0:
                await self._sleep(self.poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.db.outbox_written.wait(), timeout=seconds)

    async def _prune_now_and_then(self) -> None:
        now = utcnow()
        if now - self._pruned_at < timedelta(minutes=10):
            return
        self._pruned_at = now
        async with self.db.engine.begin() as connection:
            await connection.execute(_PRUNE, {"before": now - RETENTION})

    async def drain_and_stop(self, grace_seconds: float = 5.0) -> None:
        """Publishes what is committed (best effort within ``grace_seconds``), then stops the loop."""
        self._stopping.set()
        self.db.outbox_written.set()
        try:
            async with asyncio.timeout(grace_seconds):
                while await self.publish_pending():
                    pass
        except Exception:  # noqa: BLE001 - whatever is left is published after restart
            log.warning("outbox not fully drained at shutdown; the rest goes after restart")

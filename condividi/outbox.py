"""The relay: publishes committed outbox rows to Kafka in the order they were written (their id), then
marks them published.

Only one relay of a service publishes at a time (a PostgreSQL advisory lock), so that order holds even
with several replicas. (Two transactions committing at once may land in either order; the events
of one aggregate never do, as each is written after the one before it.) A crash between Kafka's ack
and the ``published_at`` update publishes a row twice; consumers' inboxes make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import Row, text

from condividi.db import Database, utcnow
from condividi.events import UndecodableEvent, parse_envelope
from condividi.observability import EVENTS_PUBLISHED
from condividi.tracing import MAX_LINKS, publishing

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
RETENTION = timedelta(days=7)

_CLAIM = text(
    "SELECT id, topic, key, event_id, event_type, envelope FROM outbox "
    "WHERE published_at IS NULL ORDER BY id LIMIT :limit"
)
_MARK = text("UPDATE outbox SET published_at = :now WHERE id = ANY(:ids)")
_PRUNE = text("DELETE FROM outbox WHERE published_at < :before")


@lru_cache(maxsize=65536)
def _partition_index(key: bytes, count: int) -> int:
    # Kafka's default partitioner (murmur2 of the key), so every client agrees where a key lives; cached
    # because aiokafka computes it in Python and the same aggregates (a share's clicks) come again.
    return int(murmur2(key) & 0x7FFFFFFF) % count


def _traceparents(rows: Sequence[Row[Any]]) -> list[str]:
    found = []
    for row in rows:
        try:
            found.append(parse_envelope(row.envelope).traceparent)
        except UndecodableEvent:
            continue  # not this relay's business: it publishes the bytes as they are
    return found


class OutboxRelay:
    def __init__(self, db: Database, producer: AIOKafkaProducer, *, poll_seconds: float) -> None:
        self.db = db
        self.producer = producer
        self.poll_seconds = poll_seconds
        # Per-service lock id: services may share one PostgreSQL server in small set-ups.
        self.lock_id = zlib.crc32(f"outbox-relay:{db.producer}".encode())
        self._stopping = asyncio.Event()
        self._pruned_at = utcnow()
        self._partitions_of: dict[str, list[int]] = {}
        self._loop_done = asyncio.Event()
        self._loop_done.set()  # no loop running until run() starts one

    async def publish_pending(self) -> int:
        """Publishes one batch; returns how many rows it published (0 when idle or not the leader)."""
        async with self.db.engine.begin() as connection:
            leader = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": self.lock_id})
            if not leader:
                return 0
            rows = (await connection.execute(_CLAIM, {"limit": BATCH_SIZE})).all()
            if not rows:
                return 0
            with publishing(rows[0].topic, len(rows), lambda: _traceparents(rows[:MAX_LINKS])):
                await asyncio.gather(*await self._send(rows))
            await connection.execute(_MARK, {"now": utcnow(), "ids": [row.id for row in rows]})
        for row in rows:
            EVENTS_PUBLISHED.labels(row.topic).inc()
        return len(rows)

    async def _send(self, rows: Sequence[Row[Any]]) -> list[asyncio.Future[Any]]:
        """Hands the rows to the producer as one record batch per partition (in row order within each),
        which costs far less per event than one ``send`` each; returns the delivery futures."""
        batches: dict[tuple[str, int], BatchBuilder] = {}
        deliveries: list[asyncio.Future[Any]] = []
        for row in rows:
            key = row.key.encode()
            partitions = await self._partitions(row.topic)
            slot = (row.topic, partitions[_partition_index(key, len(partitions))])
            headers = [("event_id", str(row.event_id).encode()), ("type", row.event_type.encode())]
            batch = batches.get(slot)
            if batch is None or batch.append(key=key, value=row.envelope, timestamp=None, headers=headers) is None:
                if batch is not None:  # full: send it, start the next
                    deliveries.append(await self.producer.send_batch(batch, slot[0], partition=slot[1]))
                batch = batches[slot] = self.producer.create_batch()
                if batch.append(key=key, value=row.envelope, timestamp=None, headers=headers) is None:
                    raise ValueError(f"event {row.event_id} is larger than a whole record batch")
        for (topic, partition), batch in batches.items():
            deliveries.append(await self.producer.send_batch(batch, topic, partition=partition))
        return deliveries

    async def _partitions(self, topic: str) -> list[int]:
        known = self._partitions_of.get(topic)
        if known is None:
            found = await self.producer.partitions_for(topic)
            known = self._partitions_of[topic] = sorted(found)
        return known

    async def run(self) -> None:
        self._loop_done.clear()
        try:
            await self._loop()
        finally:
            self._loop_done.set()

    async def _loop(self) -> None:
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
                # Let a publish in progress finish (cancelling it would roll back its published_at
                # marks, and the events would go out again after restart), then publish the rest.
                await self._loop_done.wait()
                while await self.publish_pending():
                    pass
        except Exception:  # noqa: BLE001 - whatever is left is published after restart
            log.warning("outbox not fully drained at shutdown; the rest goes after restart")

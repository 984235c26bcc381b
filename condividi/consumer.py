"""Consuming events with exactly-once effects.

For each batch the consumer reads, it records every event id in the ``inbox`` table (batch-handled
events: as bits in ``inbox_blocks``, ``condividi/inbox_blocks.py``) and applies the handlers in one
transaction; an event id already recorded is skipped, so a redelivered event changes nothing. When a
batch fails, its events are retried one by one (each in its own transaction, with backoff) so one bad
message cannot hold back the others; a message that still fails goes to the dead-letter topic
``<topic>.dlt`` with the error, and the consumer goes on. Offsets are committed only after the batch's
effects are committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from condividi.contracts.envelope_pb2 import Envelope
from condividi.db import Database, UnitOfWork, utcnow
from condividi.events import (
    ReceivedEvent,
    UndecodableEvent,
    dead_letter_topic,
    open_envelope,
    parse_envelope,
    type_name,
)
from condividi.inbox_blocks import InboxBlocks, uuid_int
from condividi.kafka import make_consumer
from condividi.observability import EVENTS_CONSUMED, event_id_var, traceparent_var
from condividi.settings import ServiceSettings
from condividi.tracing import consuming, consuming_batch

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, ReceivedEvent[Any]], Awaitable[None]]
# Takes a run of consecutive events of one type at once, for consumers that can fold many events into
# a few statements (metrics counting clicks); must give the same result as handling them one by one.
# It gets the envelopes as parsed, their payloads still packed: such events come by the thousand, and
# building a ReceivedEvent (its UUIDs, its datetime) for each was a tenth of the fold (bench/README.md).
# It checks what it reads and raises on a bad event, which is then retried alone and dead-lettered.
BatchHandler = Callable[[UnitOfWork, list[Envelope]], Awaitable[None]]

_RECORD = text(
    "INSERT INTO inbox (consumer_group, event_id, processed_at) "
    "SELECT :group, unnest(CAST(:ids AS uuid[])), :now ON CONFLICT DO NOTHING RETURNING event_id"
)


# SQLSTATE classes of a database that is away, not of a bad event: connection exceptions (08), a
# server shutting down, crashed or still starting (57P01-57P03: "the database system is starting up"
# comes while it recovers after a crash), and insufficient resources (53: too many connections).
_OUTAGE_SQLSTATES = ("08", "57P", "53")


def _is_outage(error: BaseException) -> bool:
    """A failure of the database connection, which no event can cause and a retry later may cure;
    such failures must never send a good event to the dead-letter topic."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (OperationalError, InterfaceError, OSError, TimeoutError)):
        return True
    # SQLAlchemy wraps asyncpg's errors (a plain DBAPIError for CannotConnectNowError): look at the
    # driver's error and its causes for a SQLSTATE that means "the server is not there".
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state.startswith(_OUTAGE_SQLSTATES):
            return True
        if isinstance(cause, (ConnectionError, OSError, TimeoutError)):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


@dataclass(frozen=True)
class Subscription:
    """What one consumer group of a service reads and how it handles each event type."""

    group: str  # "<service>.<purpose>"
    topics: list[str]
    handlers: dict[str, tuple[type[Message], Handler | BatchHandler]]
    batched: frozenset[str] = frozenset()

    @staticmethod
    def of(
        group: str,
        topics: list[str],
        handlers: dict[type[Message], Handler],
        batch_handlers: dict[type[Message], BatchHandler] | None = None,
    ) -> Subscription:
        batch_handlers = batch_handlers or {}
        every: dict[str, tuple[type[Message], Handler | BatchHandler]] = {
            type_name(cls): (cls, h) for cls, h in handlers.items()
        }
        every.update({type_name(cls): (cls, h) for cls, h in batch_handlers.items()})
        return Subscription(group, topics, every, frozenset(type_name(cls) for cls in batch_handlers))


@dataclass
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope
    # The event id as an integer, for the inbox's blocks (batch-handled events only).
    key: int
    # Opened only for events handled one at a time; batch-handled ones stay envelopes.
    event: ReceivedEvent[Any] | None
    handler: Handler | BatchHandler

    @property
    def batched(self) -> bool:
        return self.event is None


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions move to another member, wait for the batch in hand and commit it, so the new
    owner does not start from an older offset than needed."""

    def __init__(self, runner: EventConsumer) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.runner.batch_lock:
            await self.runner.commit()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


class EventConsumer:
    def __init__(
        self,
        subscription: Subscription,
        db: Database,
        dead_letters: AIOKafkaProducer,
        settings: ServiceSettings,
    ) -> None:
        self.subscription = subscription
        self.settings = settings
        self.db = db
        self.dead_letters = dead_letters
        self.max_attempts = settings.CONSUMER_MAX_ATTEMPTS
        self.backoff = settings.CONSUMER_RETRY_BACKOFF_SECONDS
        self.batch_lock = asyncio.Lock()
        self.consumer = make_consumer(settings, subscription.group)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # When the loop last finished a turn: a batch applied and committed, or a poll that found
        # nothing (no lag). A consumer failing the same batch over and over, or hung in a handler,
        # stops moving it; /readyz then says so (``problem``).
        self.last_progress = time.monotonic()

    async def start(self) -> None:
        await self.consumer.start()
        topics = [self.settings.kafka_name(t) for t in self.subscription.topics]
        self.consumer.subscribe(topics, listener=_CommitOnRevoke(self))
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.subscription.group}")

    async def stop(self) -> None:
        """Finishes the batch in hand, commits it, and leaves the group."""
        self._stopping.set()
        if self._task is not None:
            async with self.batch_lock:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.commit()
        await self.consumer.stop()

    def problem(self, stall_seconds: float) -> str | None:
        """Why this consumer is not doing its job, or None: its task ended while the service runs
        (nothing would ever read its events again), or it has made no progress for ``stall_seconds``
        while events wait (an empty poll counts as progress, so an idle consumer is never stalled)."""
        if self._task is None or self._stopping.is_set():
            return None
        if self._task.done():
            return "its task ended"
        if time.monotonic() - self.last_progress > stall_seconds:
            return f"no progress for {time.monotonic() - self.last_progress:.0f}s"
        return None

    async def commit(self) -> None:
        if not self.consumer.assignment():
            return  # nothing is ours to commit (not yet assigned, or just revoked)
        try:
            await self.consumer.commit()
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced; the next owner re-reads from the last commit and the inbox
            # absorbs the repeats.
            log.warning("offset commit failed", extra={"group": self.subscription.group, "error": str(exc)})

    async def _run(self) -> None:
        while not self._stopping.is_set():
            batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
            try:
                batches = await self.consumer.getmany(timeout_ms=500)
                records = [r for partition_records in batches.values() for r in partition_records]
                if not records:
                    self.last_progress = time.monotonic()
                    continue
                async with self.batch_lock:
                    await self.handle(records)
                    await self.commit()
                self.last_progress = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database or the dead-letter topic is unreachable: read the batch again rather
                # than move past it (moving on would commit offsets over events never applied).
                log.exception("consumer loop failed; retrying the batch", extra={"group": self.subscription.group})
                self._rewind(batches)
                await asyncio.sleep(1.0)

    def _rewind(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for partition, records in batches.items():
            if records and partition in self.consumer.assignment():
                self.consumer.seek(partition, records[0].offset)

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Applies a batch of records: decodes, then one transaction, or one by one when that fails."""
        await self._apply_batch(await self._decode_all(records))

    async def _decode_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> list[_Decoded]:
        decoded: list[_Decoded] = []
        for record in records:
            try:
                item = self._decode(record)
            except UndecodableEvent as exc:
                await self._dead_letter(record, exc, attempts=0)
                continue
            if item is not None:
                decoded.append(item)
        return decoded

    async def _apply_batch(self, decoded: list[_Decoded]) -> None:
        if not decoded:
            return
        try:
            await self._apply(decoded)
        except Exception:
            log.warning("batch failed; retrying its events one by one", exc_info=True)
            for item in decoded:
                await self._apply_with_retries(item)

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Decoded | None:
        """The record's envelope, opened unless its type is batch-handled; None when no handler of
        this consumer wants it. Raises UndecodableEvent."""
        envelope = parse_envelope(record.value or b"")
        known = self.subscription.handlers.get(envelope.type)
        if known is None:
            return None  # another consumer's business: a topic carries several event types
        payload_class, handler = known
        if envelope.type in self.subscription.batched:
            try:
                key = uuid_int(envelope.event_id)
            except ValueError as exc:
                raise UndecodableEvent(f"bad event id in envelope: {exc}") from exc
            return _Decoded(record, envelope, key, None, handler)
        return _Decoded(record, envelope, 0, open_envelope(envelope, payload_class), handler)

    async def _apply(self, items: list[_Decoded]) -> None:
        group = self.subscription.group
        async with self.db.unit_of_work() as uow:
            fresh = await self._fresh(uow, items)
            todo = [item for item, new in zip(items, fresh, strict=True) if new]
            if len(todo) < len(items):
                EVENTS_CONSUMED.labels(group, "duplicate").inc(len(items) - len(todo))
            for run in self._runs(todo):
                first = run[0]
                topic, kind = first.record.topic, first.envelope.type
                if first.batched:
                    with consuming_batch(group, topic, kind, [i.envelope.traceparent for i in run]):
                        await first.handler(uow, [i.envelope for i in run])  # type: ignore[arg-type]
                    continue
                token = event_id_var.set(first.envelope.event_id)
                trace_token = traceparent_var.set(first.envelope.traceparent)
                try:
                    with consuming(group, topic, kind, first.envelope.event_id, first.envelope.traceparent):
                        await first.handler(uow, first.event)  # type: ignore[arg-type]
                finally:
                    event_id_var.reset(token)
                    traceparent_var.reset(trace_token)
        EVENTS_CONSUMED.labels(group, "applied").inc(len(todo))

    async def _fresh(self, uow: UnitOfWork, items: list[_Decoded]) -> list[bool]:
        """For each item, whether this transaction is the first to apply its event (a repeat within the
        batch included): recorded, in the inbox for events handled one at a time, in the inbox's blocks
        (``condividi/inbox_blocks.py``, a bit per event) for batch-handled ones."""
        group = self.subscription.group
        fresh = [False] * len(items)
        singles = [(n, item.event.event_id) for n, item in enumerate(items) if item.event is not None]
        if singles:
            parameters = {"group": group, "ids": [str(i) for _, i in singles], "now": utcnow()}
            recorded = set((await uow.session.execute(_RECORD, parameters)).scalars())
            for n, event_id in singles:
                if event_id in recorded:
                    recorded.discard(event_id)  # a second copy in this batch is a repeat
                    fresh[n] = True
        batched = [n for n, item in enumerate(items) if item.event is None]
        if batched:
            claimed = await InboxBlocks(group).claim(uow.session, [items[n].key for n in batched])
            for n, new in zip(batched, claimed, strict=True):
                fresh[n] = new
        return fresh

    def _runs(self, items: list[_Decoded]) -> list[list[_Decoded]]:
        """Consecutive events of a batch-handled type go together; every other event alone. The order
        of the events is kept."""
        runs: list[list[_Decoded]] = []
        for item in items:
            kind = item.envelope.type
            if runs and item.batched and runs[-1][0].envelope.type == kind:
                runs[-1].append(item)
            else:
                runs.append([item])
        return runs

    async def _apply_with_retries(self, item: _Decoded) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._apply([item])
                return
            except Exception as exc:
                if _is_outage(exc):
                    raise  # not the event's fault: the whole batch is read again later
                if attempt == self.max_attempts:
                    log.error(
                        "event failed %d times; sending it to the dead-letter topic",
                        attempt,
                        extra={"event_id": item.envelope.event_id, "group": self.subscription.group},
                        exc_info=True,
                    )
                    await self._dead_letter(item.record, exc, attempts=attempt)
                    return
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int) -> None:
        EVENTS_CONSUMED.labels(self.subscription.group, "dead_lettered").inc()
        reason = "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]
        headers = [
            *(record.headers or ()),
            ("dlt.error", reason.encode()),
            ("dlt.consumer_group", self.subscription.group.encode()),
            ("dlt.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ("dlt.attempts", str(attempts).encode()),
        ]
        await self.dead_letters.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )

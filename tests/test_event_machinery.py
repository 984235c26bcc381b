"""The event machinery of ``condividi/`` on the real PostgreSQL and Kafka-protocol broker: the outbox
(an event committed with its state change survives a crash and is relayed after restart), the inbox
(a redelivered event changes nothing), dead letters (a poison message is set aside and the consumer goes
on), the envelope, and the drift check of the generated contract code."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from sqlalchemy import text

from condividi.consumer import EventConsumer, Subscription
from condividi.contracts import generate
from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import Database, UnitOfWork, utcnow
from condividi.events import (
    ReceivedEvent,
    UndecodableEvent,
    dead_letter_topic,
    new_envelope,
    open_envelope,
    parse_envelope,
    type_name,
)
from condividi.kafka import ensure_topics, make_producer
from condividi.outbox import OutboxRelay
from condividi.settings import ServiceSettings
from condividi.testing import Infra
from services.content.models import ContentItem, ContentStatus

T = TypeVar("T")

ORG = uuid.uuid4()
MAX_ATTEMPTS = 4  # not the default (3), so the dead letter's header must follow the setting

# The handlers of these tests write here; one row per label (the payload's content_id).
SCRATCH_TABLE = "CREATE TABLE applied (label text PRIMARY KEY, n integer NOT NULL)"
_INCREMENT = text(
    "INSERT INTO applied (label, n) VALUES (:label, 1) ON CONFLICT (label) DO UPDATE SET n = applied.n + 1"
)


# --- helpers -------------------------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[T]], *, within: float = 15.0, interval: float = 0.05) -> T:
    """Awaits ``check`` until it returns something truthy (events cross tasks asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: T = await check()
    while not last:
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {last!r}")
        await asyncio.sleep(interval)
        last = await check()
    return last


def settings_for(infra: Infra, database_url: str, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(
        **{
            "SERVICE_NAME": "machinery-test",
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "CONSUMER_MAX_ATTEMPTS": MAX_ATTEMPTS,
            "CONSUMER_RETRY_BACKOFF_SECONDS": 0.01,
            # As service_env: the broker holds a group (re)join for about half the session timeout.
            "KAFKA_SESSION_TIMEOUT_MS": 2000,
            "KAFKA_HEARTBEAT_INTERVAL_MS": 500,
            **overrides,
        }
    )


def event(label: str, *, aggregate_id: uuid.UUID | str, title: str = "A title") -> Any:
    """A ContentPublished envelope; ``label`` (its content_id) names the counter its handler bumps."""
    return new_envelope(
        ContentPublished(content_id=label, title=title, url="https://acme.example/news"),
        org_id=ORG,
        aggregate_id=aggregate_id,
        producer="content",
    )


async def send(producer: AIOKafkaProducer, topic: str, envelope: Any) -> None:
    await producer.send_and_wait(
        topic,
        value=envelope.SerializeToString(),
        key=envelope.aggregate_id.encode(),
        headers=[("event_id", envelope.event_id.encode()), ("type", envelope.type.encode())],
    )


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 15.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything on ``topic`` from the beginning (no consumer group), until ``done`` says enough."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await reader.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not done(records):
            if loop.time() > deadline:
                raise AssertionError(f"{topic}: expected records not there within {within}s; got {records!r}")
            batch = await reader.getmany(timeout_ms=200)
            records += [r for partition in batch.values() for r in partition]
    finally:
        await reader.stop()
    return records


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


def has_event(records: Iterable[ConsumerRecord[bytes, bytes]], event_id: str) -> bool:
    return any(header(r, "event_id") == event_id for r in records)


async def counters(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return {label: n for label, n in (await session.execute(text("SELECT label, n FROM applied"))).all()}


async def inbox(db: Database, group: str) -> set[uuid.UUID]:
    async with db.read() as session:
        rows = await session.execute(text("SELECT event_id FROM inbox WHERE consumer_group = :group"), {"group": group})
        return {uuid.UUID(str(event_id)) for (event_id,) in rows.all()}


def consumed(group: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("events_consumed_total", {"group": group, "outcome": outcome}) or 0.0


async def count(uow: UnitOfWork, received: ReceivedEvent[ContentPublished]) -> None:
    """The effect under test: one increment of a counter, inside the consumer's transaction."""
    await uow.session.execute(_INCREMENT, {"label": received.payload.content_id})


@asynccontextmanager
async def consuming(
    subscription: Subscription, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings
) -> AsyncIterator[EventConsumer]:
    consumer = EventConsumer(subscription, db, producer, settings)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def database_url(infra: Infra) -> str:
    """A migrated content database: it has the outbox and inbox tables."""
    return infra.new_database("content")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, producer="machinery-test", pool_size=5)
    async with database.engine.begin() as connection:
        await connection.execute(text(SCRATCH_TABLE))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def settings(infra: Infra, database_url: str) -> ServiceSettings:
    return settings_for(infra, database_url)


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = make_producer(settings)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@pytest.fixture
async def topic(settings: ServiceSettings) -> str:
    """A topic of this test's own, and its dead-letter topic."""
    name = f"test.machinery.{uuid.uuid4().hex[:12]}"
    await ensure_topics(settings, [name, dead_letter_topic(name)])
    return name


# --- a. the outbox -------------------------------------------------------------------------------


@asynccontextmanager
async def relaying(infra: Infra, database_url: str, db: Database) -> AsyncIterator[None]:
    """An outbox relay publishing ``db``'s outbox for the length of the block, then drained and stopped."""
    settings = settings_for(infra, database_url, SERVICE_NAME="content")
    await ensure_topics(settings, [db.topic])
    kafka = make_producer(settings)
    await kafka.start()
    relay = OutboxRelay(db, kafka, poll_seconds=0.1)
    running_relay = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        await relay.drain_and_stop()
        running_relay.cancel()
        await asyncio.gather(running_relay, return_exceptions=True)
        await kafka.stop()


async def test_event_committed_before_a_crash_is_relayed_after_restart(infra: Infra, database_url: str) -> None:
    item_id = uuid.uuid4()
    # The process that commits and then dies before any relay ran: nothing here publishes.
    crashed = Database(database_url, producer="content")
    async with crashed.unit_of_work() as uow:
        uow.session.add(
            ContentItem(
                id=item_id,
                org_id=ORG,
                title="Survives a crash",
                url="https://acme.example/crash",
                status=ContentStatus.PUBLISHED,
                created_by="curator-1",
                created_at=utcnow(),
                published_at=utcnow(),
            )
        )
        event_id = uow.emit(
            ContentPublished(content_id=str(item_id), title="Survives a crash", url="https://acme.example/crash"),
            org_id=ORG,
            aggregate_id=item_id,
        )
    await crashed.dispose()

    restarted = Database(database_url, producer="content")
    outbox_row = text("SELECT topic, key, event_type, published_at FROM outbox WHERE event_id = :id")
    async with restarted.read() as session:
        row = (await session.execute(outbox_row, {"id": event_id})).one()
    assert (row.topic, row.key, row.event_type) == (
        "condividi.content",
        str(item_id),
        type_name(ContentPublished),
    )
    assert row.published_at is None, "nothing has relayed the event yet"

    try:
        async with relaying(infra, database_url, restarted):
            records = await read_topic(
                infra.kafka_bootstrap, "condividi.content", done=lambda rs: has_event(rs, str(event_id))
            )
            [record] = [r for r in records if header(r, "event_id") == str(event_id)]
            assert record.key == str(item_id).encode()
            assert header(record, "type") == type_name(ContentPublished)
            received = open_envelope(parse_envelope(record.value), ContentPublished)
            assert (received.event_id, received.org_id, received.aggregate_id) == (event_id, ORG, str(item_id))
            assert received.producer == "content"
            assert received.payload.title == "Survives a crash"

            async def published_at() -> Any:
                async with restarted.read() as session:
                    return (await session.execute(outbox_row, {"id": event_id})).one().published_at

            assert await until(published_at) is not None
    finally:
        await restarted.dispose()


async def test_a_large_unit_of_work_writes_and_relays_every_event_in_order(infra: Infra, database_url: str) -> None:
    """Enough events in one unit of work to take the bulk (COPY) path of the outbox write."""
    db = Database(database_url, producer="content", topic=f"bulk-{uuid.uuid4().hex[:8]}")
    aggregate = uuid.uuid4()
    async with db.unit_of_work() as uow:
        ids = [
            uow.emit(ContentPublished(content_id=str(aggregate), title=f"n{n}"), org_id=ORG, aggregate_id=aggregate)
            for n in range(150)
        ]
    try:
        async with relaying(infra, database_url, db):
            records = await read_topic(infra.kafka_bootstrap, db.topic, done=lambda rs: len(rs) >= len(ids))
        assert [header(r, "event_id") for r in records] == [str(i) for i in ids], "one partition, commit order"
        titles = [open_envelope(parse_envelope(r.value), ContentPublished).payload.title for r in records]
        assert titles == [f"n{n}" for n in range(150)]
    finally:
        await db.dispose()


async def test_relay_drains_what_is_committed_when_it_stops(infra: Infra, database_url: str) -> None:
    """At shutdown the relay publishes every committed event before the producer closes."""
    db = Database(database_url, producer="content", topic=f"drain-{uuid.uuid4().hex[:8]}")
    aggregate = uuid.uuid4()
    async with db.unit_of_work() as uow:
        ids = [uow.emit(ContentPublished(title=f"n{n}"), org_id=ORG, aggregate_id=aggregate) for n in range(5)]
    settings = settings_for(infra, database_url, SERVICE_NAME="content")
    await ensure_topics(settings, [db.topic])
    kafka = make_producer(settings)
    await kafka.start()
    try:
        await OutboxRelay(db, kafka, poll_seconds=300).drain_and_stop()  # never ran its loop
    finally:
        await kafka.stop()
        await db.dispose()
    records = await read_topic(infra.kafka_bootstrap, db.topic, done=lambda rs: len(rs) >= len(ids), within=5)
    assert [header(r, "event_id") for r in records] == [str(i) for i in ids]


class WithheldAcks:
    """A producer whose records reach the broker at once but whose acknowledgements the test hands out:
    it holds the relay in the moment between sending and hearing back."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self.real = real
        self.release = asyncio.Event()
        self.failure: Exception | None = None
        self.sent = 0

    def create_batch(self) -> Any:
        return self.real.create_batch()

    async def partitions_for(self, topic: str) -> Any:
        return await self.real.partitions_for(topic)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        delivered = await self.real.send_batch(batch, topic, partition=partition)
        self.sent += 1
        return asyncio.ensure_future(self._ack(delivered))

    async def _ack(self, delivered: Awaitable[Any]) -> Any:
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return await delivered


async def unpublished(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")) or 0)


@asynccontextmanager
async def relay_producer(infra: Infra, database_url: str, db: Database) -> AsyncIterator[AIOKafkaProducer]:
    settings = settings_for(infra, database_url, SERVICE_NAME="content")
    await ensure_topics(settings, [db.topic])
    kafka = make_producer(settings)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def test_rows_are_marked_published_only_once_the_broker_acknowledged_them(
    infra: Infra, database_url: str
) -> None:
    db = Database(database_url, producer="content", topic=f"acks-{uuid.uuid4().hex[:8]}")
    async with db.unit_of_work() as uow:
        for n in range(5):
            uow.emit(ContentPublished(title=f"n{n}"), org_id=ORG, aggregate_id=uuid.uuid4())
    try:
        async with relay_producer(infra, database_url, db) as kafka:
            withheld = WithheldAcks(kafka)
            relay = OutboxRelay(db, cast(AIOKafkaProducer, withheld), poll_seconds=300)
            publishing = asyncio.create_task(relay.publish_pending())
            await until(lambda: asyncio.sleep(0, withheld.sent))
            await asyncio.sleep(0.3)  # time enough to mark the rows, had it not waited
            assert await unpublished(db) == 5, "rows marked published before the broker acknowledged them"

            # The broker answers with an error: the rows stay to be published again.
            withheld.failure = KafkaError("the broker refused the batch")
            withheld.release.set()
            with pytest.raises(KafkaError):
                await publishing
            assert await unpublished(db) == 5, "rows marked published though their delivery failed"

            assert await OutboxRelay(db, kafka, poll_seconds=300).publish_pending() == 5
            assert await unpublished(db) == 0
    finally:
        await db.dispose()


async def test_a_second_relay_publishes_nothing_while_the_first_one_publishes(infra: Infra, database_url: str) -> None:
    """Two replicas of a service, each with its relay: the one that does not hold the lock stays idle,
    even while the other has sent a batch and waits for its acknowledgement (its rows still unmarked)."""
    db = Database(database_url, producer="content", topic=f"leader-{uuid.uuid4().hex[:8]}")
    replica = Database(database_url, producer="content", topic=db.topic)
    async with db.unit_of_work() as uow:
        ids = [uow.emit(ContentPublished(title=f"n{n}"), org_id=ORG, aggregate_id=uuid.uuid4()) for n in range(20)]
    try:
        async with relay_producer(infra, database_url, db) as kafka:
            withheld = WithheldAcks(kafka)
            leader = asyncio.create_task(
                OutboxRelay(db, cast(AIOKafkaProducer, withheld), poll_seconds=300).publish_pending()
            )
            await until(lambda: asyncio.sleep(0, withheld.sent))
            assert await OutboxRelay(replica, kafka, poll_seconds=300).publish_pending() == 0, (
                "the second relay published rows the first one was publishing"
            )
            withheld.release.set()
            assert await leader == 20
            assert await OutboxRelay(replica, kafka, poll_seconds=300).publish_pending() == 0
        # Every send was acknowledged before this read, so the topic holds all there is.
        records = await read_topic(infra.kafka_bootstrap, db.topic, done=lambda rs: len(rs) >= len(ids))
        assert sorted(str(header(r, "event_id")) for r in records) == sorted(str(i) for i in ids)
    finally:
        await replica.dispose()
        await db.dispose()


async def test_unit_of_work_that_fails_rolls_back_the_state_change_and_its_event(database_url: str) -> None:
    class BoomError(Exception):
        pass

    db = Database(database_url, producer="content")
    item_id = uuid.uuid4()
    try:
        with pytest.raises(BoomError):
            async with db.unit_of_work() as uow:
                uow.session.add(
                    ContentItem(
                        id=item_id,
                        org_id=ORG,
                        title="Never",
                        url="https://acme.example/never",
                        status=ContentStatus.DRAFT,
                        created_by="curator-1",
                        created_at=utcnow(),
                    )
                )
                uow.emit(ContentPublished(content_id=str(item_id)), org_id=ORG, aggregate_id=item_id)
                await uow.session.flush()  # both rows have reached PostgreSQL before the failure
                raise BoomError
        async with db.read() as session:
            items = await session.scalar(text("SELECT count(*) FROM content_items WHERE id = :id"), {"id": item_id})
            events = await session.scalar(text("SELECT count(*) FROM outbox WHERE key = :key"), {"key": str(item_id)})
        assert (items, events) == (0, 0)
        assert not db.outbox_written.is_set(), "a rolled-back unit of work must not wake the relay"
    finally:
        await db.dispose()


# --- b. exactly-once effects ---------------------------------------------------------------------


async def test_same_event_delivered_again_is_applied_once(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"
    subscription = Subscription.of(group, [topic], {ContentPublished: count})
    aggregate = uuid.uuid4()  # one key for everything: one partition, so the order below holds
    duplicated = event("duplicated", aggregate_id=aggregate)

    await send(producer, topic, duplicated)
    await send(producer, topic, duplicated)  # the same bytes, the same event_id
    async with consuming(subscription, db, producer, settings):
        await until(lambda: counters(db))
        # Redelivered later, so in a batch (and a transaction) of its own: only the inbox can spot it.
        await send(producer, topic, duplicated)
        sentinel = event("sentinel", aggregate_id=aggregate)
        await send(producer, topic, sentinel)  # behind the third copy on the same partition
        await until(lambda: _has(db, "sentinel"))

    assert await counters(db) == {"duplicated": 1, "sentinel": 1}
    assert await inbox(db, group) == {uuid.UUID(duplicated.event_id), uuid.UUID(sentinel.event_id)}
    assert consumed(group, "duplicate") == 2, "both extra copies reached the consumer and were skipped"


async def _has(db: Database, label: str) -> bool:
    return label in await counters(db)


async def test_records_handled_again_without_an_offset_commit_change_nothing(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"
    subscription = Subscription.of(group, [topic], {ContentPublished: count})
    first, second = event("first", aggregate_id=uuid.uuid4()), event("second", aggregate_id=uuid.uuid4())
    await send(producer, topic, first)
    await send(producer, topic, second)
    records = await read_topic(infra.kafka_bootstrap, topic, done=lambda rs: len(rs) == 2)

    # Never started: the test hands it the records, as a consumer that crashed before committing its
    # offsets would be handed them again after the restart.
    consumer = EventConsumer(subscription, db, producer, settings)
    try:
        await consumer.handle(records)
        await consumer.handle(records)
        await consumer.handle(records[::-1])
    finally:
        await consumer.consumer.stop()

    assert await counters(db) == {"first": 1, "second": 1}
    assert await inbox(db, group) == {uuid.UUID(first.event_id), uuid.UUID(second.event_id)}
    assert consumed(group, "duplicate") == 4


async def test_consumer_restarted_before_its_offsets_were_committed_applies_nothing_twice(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"
    subscription = Subscription.of(group, [topic], {ContentPublished: count})
    aggregate = uuid.uuid4()
    before = event("before-crash", aggregate_id=aggregate)
    await send(producer, topic, before)

    crashing = without_offset_commits(EventConsumer(subscription, db, producer, settings))
    await crashing.start()
    try:
        await until(lambda: _has(db, "before-crash"))
    finally:
        await crashing.stop()

    after = event("after-restart", aggregate_id=aggregate)
    await send(producer, topic, after)
    # The same group after the restart: with no committed offsets it starts again from the beginning.
    async with consuming(subscription, db, producer, settings):
        await until(lambda: _has(db, "after-restart"))

    assert await counters(db) == {"before-crash": 1, "after-restart": 1}
    assert await inbox(db, group) == {uuid.UUID(before.event_id), uuid.UUID(after.event_id)}
    assert consumed(group, "duplicate") == 1, "the restarted consumer was handed the first event again"


def without_offset_commits(consumer: EventConsumer) -> EventConsumer:
    """As if the process died each time right after its transaction committed, before the offsets."""

    async def never() -> None:
        return None

    consumer.commit = never  # type: ignore[method-assign]
    return consumer


# --- c. dead letters -----------------------------------------------------------------------------


async def test_poison_and_garbage_go_to_the_dead_letter_topic_and_the_consumer_goes_on(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"
    poison_calls = 0

    async def picky(uow: UnitOfWork, received: ReceivedEvent[ContentPublished]) -> None:
        nonlocal poison_calls
        await count(uow, received)  # written, then rolled back with the failure
        if received.payload.title == "poison":
            poison_calls += 1
            raise RuntimeError("cannot digest this one")

    subscription = Subscription.of(group, [topic], {ContentPublished: picky})
    aggregate = uuid.uuid4()
    good1 = event("good1", aggregate_id=aggregate)
    poison = event("poison", aggregate_id=aggregate, title="poison")
    good2 = event("good2", aggregate_id=aggregate)
    for envelope in (good1, poison, good2):
        await send(producer, topic, envelope)
    garbage = b"\x00this is not an envelope\xff"
    await producer.send_and_wait(topic, value=garbage, key=b"garbage")

    async with consuming(subscription, db, producer, settings):
        await until(lambda: _has(db, "good2"))
        dead = await read_topic(
            infra.kafka_bootstrap,
            dead_letter_topic(topic),
            done=lambda rs: has_event(rs, poison.event_id) and any(r.value == garbage for r in rs),
        )
        # It goes on consuming after both.
        good3 = event("good3", aggregate_id=uuid.uuid4())
        await send(producer, topic, good3)
        await until(lambda: _has(db, "good3"))

    assert await counters(db) == {"good1": 1, "good2": 1, "good3": 1}
    assert await inbox(db, group) == {uuid.UUID(e.event_id) for e in (good1, good2, good3)}
    assert poison_calls >= MAX_ATTEMPTS

    assert len(dead) == 2
    [poisoned] = [r for r in dead if header(r, "event_id") == poison.event_id]
    assert poisoned.value == poison.SerializeToString()
    assert poisoned.key == str(aggregate).encode()
    assert header(poisoned, "type") == type_name(ContentPublished)  # the original headers are kept
    assert "RuntimeError: cannot digest this one" in (header(poisoned, "dlt.error") or "")
    assert header(poisoned, "dlt.consumer_group") == group
    assert header(poisoned, "dlt.attempts") == str(MAX_ATTEMPTS) == str(settings.CONSUMER_MAX_ATTEMPTS)
    assert (header(poisoned, "dlt.source") or "").startswith(f"{topic}/")

    [undecodable] = [r for r in dead if r.value == garbage]
    assert undecodable.key == b"garbage"
    assert "UndecodableEvent" in (header(undecodable, "dlt.error") or "")
    assert header(undecodable, "dlt.consumer_group") == group
    assert header(undecodable, "dlt.attempts") == "0"


async def test_a_failed_dead_letter_send_does_not_lose_the_rest_of_the_batch(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"

    async def picky(uow: UnitOfWork, received: ReceivedEvent[ContentPublished]) -> None:
        await count(uow, received)
        if received.payload.title == "poison":
            raise RuntimeError("cannot digest this one")

    aggregate = uuid.uuid4()
    poison, good = (
        event("poison", aggregate_id=aggregate, title="poison"),
        event("good", aggregate_id=aggregate),
    )
    await send(producer, topic, poison)
    await send(producer, topic, good)  # same partition, right behind: one batch
    hiccups = 0

    class FlakyDeadLetters:
        """The broker fails the first dead-letter send (a hiccup), then works."""

        async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal hiccups
            if not hiccups:
                hiccups += 1
                raise ConnectionError("broker hiccup while sending the dead letter")
            return await producer.send_and_wait(*args, **kwargs)

    consumer = EventConsumer(Subscription.of(group, [topic], {ContentPublished: picky}), db, producer, settings)
    consumer.dead_letters = FlakyDeadLetters()  # type: ignore[assignment,unused-ignore]
    await consumer.start()
    try:
        await until(lambda: asyncio.sleep(0, result=hiccups))
        await send(producer, topic, event("later", aggregate_id=uuid.uuid4()))
        await until(lambda: _has(db, "later"))
        # "later" may sit on another partition and be applied first; the batch that failed is read
        # again after a pause. Had its offsets been committed past it, "good" would never come.
        await until(lambda: _has(db, "good"))
        applied = await counters(db)
    finally:
        await consumer.stop()
    assert applied == {"good": 1, "later": 1}, "the good event behind the poison one was never applied"


# --- d. the envelope and the contracts -----------------------------------------------------------


def test_envelope_round_trip() -> None:
    aggregate = uuid.uuid4()
    payload = ContentPublished(content_id=str(aggregate), title="Hello", url="https://acme.example/hello")
    envelope = new_envelope(payload, org_id=ORG, aggregate_id=aggregate, producer="content", traceparent="00-ab-cd-01")

    received = open_envelope(parse_envelope(envelope.SerializeToString()), ContentPublished)

    assert received.event_id == uuid.UUID(envelope.event_id)
    assert received.type == "condividi.content.v1.ContentPublished" == type_name(ContentPublished)
    assert received.org_id == ORG
    assert received.aggregate_id == str(aggregate)
    assert received.producer == "content"
    assert received.payload == payload
    assert received.occurred_at.tzinfo is not None
    assert abs((utcnow() - received.occurred_at).total_seconds()) < 60
    assert parse_envelope(envelope.SerializeToString()).traceparent == "00-ab-cd-01"
    # Every envelope gets an id of its own.
    assert new_envelope(payload, org_id=ORG, aggregate_id=aggregate, producer="content").event_id != envelope.event_id


def test_envelope_opened_as_another_payload_type_is_undecodable() -> None:
    envelope = new_envelope(ContentPublished(content_id="x"), org_id=ORG, aggregate_id="x", producer="content")
    with pytest.raises(UndecodableEvent, match="ShareRequested"):
        open_envelope(parse_envelope(envelope.SerializeToString()), ShareRequested)


@pytest.mark.parametrize("raw", [b"", b"\x00this is not an envelope\xff", b"garbage"])
def test_bytes_that_are_no_envelope_are_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableEvent):
        parse_envelope(raw)


def test_envelope_with_a_bad_org_id_is_undecodable() -> None:
    envelope = new_envelope(ContentPublished(), org_id="not-a-uuid", aggregate_id="x", producer="content")
    with pytest.raises(UndecodableEvent, match="bad id"):
        open_envelope(parse_envelope(envelope.SerializeToString()), ContentPublished)


def test_generated_contract_code_matches_proto() -> None:
    assert generate.drift() == []


def test_drift_check_notices_a_changed_proto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(generate.PROTO_DIR, proto)
    content = proto / "content.proto"
    source = content.read_text()
    assert "string published_by = 6;" in source
    content.write_text(source.replace("string published_by = 6;", "string published_by = 6;\n  string team = 99;"))
    monkeypatch.setattr(generate, "PROTO_DIR", proto)

    assert generate.drift() == ["content_pb2.py", "content_pb2.pyi"]


def test_drift_check_notices_a_removed_proto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(generate.PROTO_DIR, proto)
    (proto / "policy.proto").unlink()
    monkeypatch.setattr(generate, "PROTO_DIR", proto)

    assert generate.drift() == ["policy_pb2.py", "policy_pb2.pyi"]


def test_drift_check_notices_a_new_proto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(generate.PROTO_DIR, proto)
    (proto / "extra.proto").write_text('syntax = "proto3";\npackage condividi.extra.v1;\nmessage Extra {}\n')
    monkeypatch.setattr(generate, "PROTO_DIR", proto)

    assert generate.drift() == ["extra_pb2.py", "extra_pb2.pyi"]


def test_relay_partitions_keys_as_kafka_clients_do() -> None:
    """The relay places records itself (one batch per partition); it must agree with the default
    partitioner every Kafka client uses, or an aggregate's events would be split across partitions."""
    from aiokafka.partitioner import DefaultPartitioner

    from condividi.outbox import _partition_index

    partitioner = DefaultPartitioner()
    for count in (1, 3, 12):
        partitions = list(range(count))
        for n in range(300):
            key = str(uuid.uuid5(uuid.NAMESPACE_OID, str(n))).encode()
            assert _partition_index(key, count) == partitioner(key, partitions, partitions)

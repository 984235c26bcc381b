"""A consumer that stops doing its job is seen (``/readyz``), and one whose group offsets vanished
(deleted by an operator, expired, a broker that lost them) starts again from the earliest event still in
the topic, the inbox dropping what it had applied, rather than silently skipping to the latest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from asyncpg import exceptions as asyncpg_errors
from sqlalchemy import text

from condividi.consumer import EventConsumer, Subscription, _is_outage
from condividi.contracts.content_pb2 import ContentPublished
from condividi.db import Database, UnitOfWork
from condividi.events import ReceivedEvent, dead_letter_topic
from condividi.kafka import ensure_topics, make_producer
from condividi.service import create_service_app
from condividi.settings import ServiceSettings
from condividi.testing import Infra, running
from tests.test_event_machinery import (
    SCRATCH_TABLE,
    consumed,
    consuming,
    count,
    counters,
    event,
    send,
    settings_for,
    until,
)


@pytest.fixture
def database_url(infra: Infra) -> str:
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
    name = f"test.faults.{uuid.uuid4().hex[:12]}"
    await ensure_topics(settings, [name, dead_letter_topic(name)])
    return name


async def test_a_group_whose_offsets_vanished_resumes_from_the_earliest_event_applying_nothing_twice(
    infra: Infra, db: Database, producer: AIOKafkaProducer, settings: ServiceSettings, topic: str
) -> None:
    group = f"test.{uuid.uuid4().hex}"
    subscription = Subscription.of(group, [topic], {ContentPublished: count})
    before = event("before", aggregate_id=uuid.uuid4())
    await send(producer, topic, before)
    async with consuming(subscription, db, producer, settings):
        await until(lambda: _has(db, "before"))
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        # Sent while no member runs, then the group is deleted: its offsets are gone.
        while_away = event("while-away", aggregate_id=uuid.uuid4())
        await send(producer, topic, while_away)
        response = await admin._send_request(DeleteGroupsRequest([group]))
        assert [code for _, code in response.results] == [0], response
    finally:
        await admin.close()

    async with consuming(subscription, db, producer, settings):
        # "latest" would wait here forever for an event that is already in the topic
        await until(lambda: _has(db, "while-away"))
    assert await counters(db) == {"before": 1, "while-away": 1}
    assert consumed(group, "duplicate") == 1, "the first event was read again and dropped by the inbox"


async def _has(db: Database, label: str) -> bool:
    return label in await counters(db)


async def test_readyz_says_not_ready_while_a_consumer_is_stuck_and_when_its_task_died(
    infra: Infra, database_url: str, producer: AIOKafkaProducer, topic: str
) -> None:
    released = asyncio.Event()
    entered = asyncio.Event()

    async def hangs(uow: UnitOfWork, received: ReceivedEvent[ContentPublished]) -> None:
        entered.set()
        await released.wait()  # a handler hung on something that never answers

    settings = settings_for(infra, database_url, CONSUMER_STALL_SECONDS=1.0)
    group = f"test.{uuid.uuid4().hex}"
    app = create_service_app(
        settings,
        title="t",
        description="t",
        routers=[],
        subscriptions=[Subscription.of(group, [topic], {ContentPublished: hangs})],
    )

    async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
        answer = await client.get("/readyz")
        return answer.status_code, answer.json()

    async with running(app) as client:
        consumer = app.state.runtime.consumers[0]
        await until(lambda: _assigned(consumer), within=15)
        await asyncio.sleep(1.5)  # idle longer than the stall setting: an idle consumer is not stalled
        assert (await readiness(client))[0] == 200
        await send(producer, topic, event("stuck", aggregate_id=uuid.uuid4()))
        await asyncio.wait_for(entered.wait(), 15)
        stuck = await until(lambda: _not_ready(client), within=10)
        assert stuck is not None
        status, body = stuck
        assert status == 503 and body["failures"] == {"consumers": "unavailable"}, body
        released.set()
        await until(lambda: _ready(client), within=10)

        consumer._task.cancel()  # as if the loop had died
        await asyncio.gather(consumer._task, return_exceptions=True)
        status, body = await readiness(client)
        assert status == 503 and body["failures"] == {"consumers": "unavailable"}, body


async def _assigned(consumer: EventConsumer) -> bool:
    return bool(consumer.consumer.assignment())


async def _not_ready(client: httpx.AsyncClient) -> tuple[int, dict[str, object]] | None:
    answer = await client.get("/readyz")
    return (answer.status_code, answer.json()) if answer.status_code != 200 else None


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


def _as_sqlalchemy_wraps_it(driver_error: Exception) -> Exception:
    """What reaches the consumer: SQLAlchemy's DBAPIError around its adapter's error around asyncpg's."""
    from sqlalchemy.exc import DBAPIError

    try:
        try:
            raise driver_error
        except Exception as inner:
            raise RuntimeError("dbapi.Error") from inner
    except RuntimeError as adapted:
        return DBAPIError("INSERT ...", {}, adapted)


@pytest.mark.parametrize(
    ("driver_error", "outage"),
    [
        # While PostgreSQL recovers from a crash: good events must wait, not go to the dead-letter topic.
        (asyncpg_errors.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg_errors.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg_errors.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg_errors.TooManyConnectionsError("too many clients"), True),
        (ConnectionResetError("reset by peer"), True),
        # The event's own fault: retried, then dead-lettered.
        (asyncpg_errors.UniqueViolationError("duplicate key"), False),
        (asyncpg_errors.InvalidTextRepresentationError("invalid input syntax for type uuid"), False),
        (ValueError("bad payload"), False),
    ],
)
def test_database_outages_are_told_from_bad_events(driver_error: Exception, outage: bool) -> None:
    assert _is_outage(_as_sqlalchemy_wraps_it(driver_error)) is outage

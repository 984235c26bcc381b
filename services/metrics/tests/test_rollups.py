"""The metrics service end to end on the real broker and database: envelopes are produced to the real
topics exactly as the content and sharing services write them, and the REST API is read until the
rollups show them."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.message import Message
from sqlalchemy import select

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.sharing_pb2 import LinkClicked, PublishMethod, SharePublished
from condividi.db import Database
from condividi.events import dead_letter_topic, new_envelope, parse_envelope, topic_of
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.metrics.main import build_app
from services.metrics.models import content_rollups
from services.metrics.settings import MetricsSettings
from services.sharing.spool import EventIds

STATS = "/api/v1/content-stats"
BATCH = "/api/v1/content-stats/batch"
SUMMARY = "/api/v1/summary"

# One app and database for the module: every test works in orgs of its own, so no test sees another's
# figures, and the consumer group joins once (a join takes seconds on the broker).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Metrics:
    client: httpx.AsyncClient
    db: Database
    producer: AIOKafkaProducer
    namespace: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def metrics(infra: Infra, issuer: Issuer) -> AsyncIterator[Metrics]:
    # Topics and groups of its own: the app reads from the start and shares partitions with nobody.
    namespace = f"metrics-test-{uuid.uuid4().hex[:8]}"
    env: dict[str, Any] = service_env(
        infra, issuer, "metrics", infra.new_database("metrics"), kafka_namespace=namespace
    )
    settings = MetricsSettings(**env)
    app = build_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    async with running(app) as client:
        await producer.start()
        try:
            yield Metrics(client, app.state.runtime.db, producer, namespace)
        finally:
            await producer.stop()


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 30.0, interval: float = 0.1) -> Any:
    """Awaits ``check`` until it returns a truthy value (events reach the rollups asynchronously)."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s; last value: {last!r}")


@dataclass
class Org:
    """One organisation's side of the event stream: what its content and sharing services would emit."""

    producer: AIOKafkaProducer
    issuer: Issuer
    namespace: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def headers(self, role: Role = Role.EMPLOYEE) -> dict[str, str]:
        return self.issuer.headers(org=self.id, roles=[role])

    async def send(self, envelope: Envelope) -> Envelope:
        await self.producer.send_and_wait(
            f"{self.namespace}.{topic_of(envelope.producer)}",
            value=envelope.SerializeToString(),
            key=envelope.aggregate_id.encode(),
        )
        return envelope

    async def emit(
        self, payload: Message, *, producer: str, aggregate_id: str, occurred_at: datetime | None = None
    ) -> Envelope:
        envelope = new_envelope(
            payload, org_id=self.id, aggregate_id=aggregate_id, producer=producer, occurred_at=occurred_at
        )
        return await self.send(envelope)

    async def publish_content(self, content_id: str, title: str = "Our new plant") -> Envelope:
        payload = ContentPublished(content_id=content_id, title=title, url="https://acme.example/plant")
        return await self.emit(payload, producer="content", aggregate_id=content_id)

    def share(self, content_id: str, *, reach: int, share_id: str | None = None) -> SharePublished:
        share_id = share_id or str(uuid.uuid4())
        return SharePublished(
            share_id=share_id,
            member_id=f"employee-{share_id[:6]}",
            content_id=content_id,
            network="linkedin",
            method=PublishMethod.PUBLISH_METHOD_INTENT,
            tracking_code=f"t{share_id[:8]}",
            potential_reach=reach,
        )

    async def publish_share(self, share: SharePublished) -> Envelope:
        return await self.emit(share, producer="sharing", aggregate_id=share.share_id)

    async def click(self, share: SharePublished, visitor: str, at: datetime | None = None) -> Envelope:
        payload = LinkClicked(
            tracking_code=share.tracking_code,
            share_id=share.share_id,
            content_id=share.content_id,
            member_id=share.member_id,
            network=share.network,
            visitor_hash=visitor,
        )
        # Keyed by the share, so a click lands on the share's partition, after its SharePublished.
        return await self.emit(payload, producer="sharing", aggregate_id=share.share_id, occurred_at=at)


@pytest.fixture
def org(metrics: Metrics, issuer: Issuer) -> Org:
    return Org(metrics.producer, issuer, metrics.namespace)


@pytest.fixture
def other_org(metrics: Metrics, issuer: Issuer) -> Org:
    return Org(metrics.producer, issuer, metrics.namespace)


async def stats_become(client: httpx.AsyncClient, org: Org, content_id: str, **expected: int) -> dict[str, Any]:
    """Polls the item's stats until they hold ``expected``; returns the whole body."""

    async def check() -> dict[str, Any] | str:
        response = await client.get(f"{STATS}/{content_id}", headers=org.headers())
        if response.status_code != 200:
            return ""  # falsy: not there yet
        body: dict[str, Any] = response.json()
        return body if all(body.get(k) == v for k, v in expected.items()) else ""

    result: dict[str, Any] = await eventually(check)
    return result


def new_id() -> str:
    return str(uuid.uuid4())


async def test_stats_count_shares_clicks_and_unique_visitors(metrics: Metrics, org: Org) -> None:
    content_id = new_id()
    await org.publish_content(content_id)
    body = await stats_become(metrics.client, org, content_id, shares=0)
    assert body == {
        "content_id": content_id,
        "shares": 0,
        "clicks": 0,
        "unique_clicks": 0,
        "potential_reach": 0,
        "reach_note": body["reach_note"],
    }
    assert "audiences" in body["reach_note"] and "not unique people" in body["reach_note"]

    share = org.share(content_id, reach=1500)
    await org.publish_share(share)
    evening = datetime(2026, 3, 2, 23, 58, tzinfo=UTC)
    await org.click(share, "visitor-a", evening)
    await org.click(share, "visitor-a", evening + timedelta(minutes=1))
    body = await stats_become(metrics.client, org, content_id, clicks=2)
    assert (body["shares"], body["clicks"], body["unique_clicks"], body["potential_reach"]) == (1, 2, 1, 1500)

    await org.click(share, "visitor-b", evening)
    body = await stats_become(metrics.client, org, content_id, clicks=3)
    assert body["unique_clicks"] == 2

    # Unique per UTC day: the same visitor three minutes later, but after midnight, counts again.
    await org.click(share, "visitor-a", evening + timedelta(minutes=3))
    body = await stats_become(metrics.client, org, content_id, clicks=4)
    assert body["unique_clicks"] == 3

    # Unique per link: the same visitor on a colleague's share of the item counts again.
    second = org.share(content_id, reach=300)
    await org.publish_share(second)
    await org.click(second, "visitor-a", evening)
    body = await stats_become(metrics.client, org, content_id, clicks=5)
    assert (body["shares"], body["unique_clicks"], body["potential_reach"]) == (2, 4, 1800)


async def test_redelivered_events_count_once(metrics: Metrics, org: Org) -> None:
    content_id = new_id()
    await org.publish_content(content_id)
    share = org.share(content_id, reach=250)
    published = await org.publish_share(share)
    await org.send(published)  # the same envelope again: same event id
    clicked = await org.click(share, "visitor-a")
    await org.send(clicked)
    # The last event of the share's partition: once it shows, everything before it has been applied.
    await org.click(share, "visitor-b")
    body = await stats_become(metrics.client, org, content_id, unique_clicks=2)
    assert (body["shares"], body["clicks"], body["potential_reach"]) == (1, 2, 250)


async def test_clicks_shipped_again_in_another_order_count_once(metrics: Metrics, org: Org) -> None:
    """Clicks carry the ids the click spool draws (a process's prefix and a counter), which the inbox
    keeps as bits in blocks: a lot sent again after a crash, in another order, adds nothing."""
    content_id = new_id()
    await org.publish_content(content_id)
    share = org.share(content_id, reach=5)
    await org.publish_share(share)
    ids = EventIds()
    clicks = []
    for n in range(40):
        envelope = new_envelope(
            LinkClicked(
                tracking_code=share.tracking_code,
                share_id=share.share_id,
                content_id=content_id,
                visitor_hash=f"visitor-{n % 10}",
            ),
            org_id=org.id,
            aggregate_id=share.share_id,
            producer="sharing",
        )
        envelope.event_id = str(uuid.UUID(bytes=ids.next(), version=4))
        clicks.append(envelope)
    for envelope in clicks[20:] + clicks[:20] + clicks[30:] + clicks[:10]:
        await org.send(envelope)
    await org.click(share, "visitor-last")  # once counted, everything before it on the partition is
    body = await stats_become(metrics.client, org, content_id, clicks=41)
    assert body["unique_clicks"] == 11


async def test_a_share_published_twice_counts_once(metrics: Metrics, org: Org) -> None:
    content_id = new_id()
    await org.publish_content(content_id)
    share_id = new_id()
    await org.publish_share(org.share(content_id, reach=700, share_id=share_id))
    # A different event (new event id) about the same share, e.g. a re-publish after a retry.
    await org.publish_share(org.share(content_id, reach=9000, share_id=share_id))
    await org.click(org.share(content_id, reach=700, share_id=share_id), "visitor-a")
    body = await stats_become(metrics.client, org, content_id, clicks=1)
    assert (body["shares"], body["potential_reach"]) == (1, 700)


async def test_content_published_after_its_shares_keeps_their_counts(metrics: Metrics, org: Org) -> None:
    content_id = new_id()
    share = org.share(content_id, reach=40)
    await org.publish_share(share)
    await org.click(share, "visitor-a")
    await stats_become(metrics.client, org, content_id, shares=1, clicks=1)

    await org.publish_content(content_id, title="Late title")

    async def title() -> str | None:
        query = select(content_rollups.c.title).where(
            content_rollups.c.org_id == org.id, content_rollups.c.content_id == uuid.UUID(content_id)
        )
        async with metrics.db.read() as session:
            return (await session.execute(query)).scalar_one_or_none()

    assert await eventually(title) == "Late title"
    body = await stats_become(metrics.client, org, content_id)
    assert (body["shares"], body["clicks"], body["unique_clicks"], body["potential_reach"]) == (1, 1, 1, 40)


async def test_stats_of_another_orgs_or_unknown_item_answer_not_found(
    metrics: Metrics, org: Org, other_org: Org
) -> None:
    content_id = new_id()
    await org.publish_content(content_id)
    await stats_become(metrics.client, org, content_id)

    for who, item in ((other_org, content_id), (org, new_id())):
        response = await metrics.client.get(f"{STATS}/{item}", headers=who.headers(Role.ADMIN))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        assert "shares" not in response.text


async def test_batch_answers_known_items_in_the_order_asked(metrics: Metrics, org: Org, other_org: Org) -> None:
    first, second, foreign = new_id(), new_id(), new_id()
    await org.publish_content(first)
    await org.publish_content(second)
    await org.publish_share(org.share(second, reach=90))
    await other_org.publish_content(foreign)
    await stats_become(metrics.client, org, first)
    await stats_become(metrics.client, org, second, shares=1)
    await stats_become(metrics.client, other_org, foreign)

    asked = [second, new_id(), foreign, first, second]
    response = await metrics.client.post(BATCH, json={"content_ids": asked}, headers=org.headers())
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["content_id"] for i in items] == [second, first]
    assert (items[0]["shares"], items[0]["potential_reach"], items[1]["shares"]) == (1, 90, 0)
    assert all(i["reach_note"] for i in items)

    empty = await metrics.client.post(BATCH, json={"content_ids": []}, headers=org.headers())
    assert empty.status_code == 200
    assert empty.json() == {"items": []}

    full = await metrics.client.post(
        BATCH, json={"content_ids": [first] + [new_id() for _ in range(99)]}, headers=org.headers()
    )
    assert full.status_code == 200
    assert [i["content_id"] for i in full.json()["items"]] == [first]


async def test_summary_sums_the_callers_org_for_admins_managers_and_curators(
    metrics: Metrics, org: Org, other_org: Org
) -> None:
    first, second, foreign = new_id(), new_id(), new_id()
    await org.publish_content(first)
    await org.publish_content(second)
    share = org.share(first, reach=1000)
    await org.publish_share(share)
    await org.publish_share(org.share(second, reach=200))
    await org.click(share, "visitor-a")
    await org.click(share, "visitor-a")
    await other_org.publish_content(foreign)
    await other_org.publish_share(other_org.share(foreign, reach=5))
    await stats_become(metrics.client, org, first, clicks=2)
    await stats_become(metrics.client, org, second, shares=1)
    await stats_become(metrics.client, other_org, foreign, shares=1)

    for role in (Role.ADMIN, Role.MANAGER, Role.CURATOR):
        response = await metrics.client.get(SUMMARY, headers=org.headers(role))
        assert response.status_code == 200, (role, response.text)
        body = response.json()
        assert body == {
            "content_items": 2,
            "shares": 2,
            "clicks": 2,
            "unique_clicks": 1,
            "potential_reach": 1200,
            "reach_note": body["reach_note"],
        }
        assert "not unique people" in body["reach_note"]

    other = (await metrics.client.get(SUMMARY, headers=other_org.headers(Role.ADMIN))).json()
    assert (other["content_items"], other["shares"], other["potential_reach"]) == (1, 1, 5)

    empty = await metrics.client.get(
        SUMMARY, headers=Org(metrics.producer, org.issuer, metrics.namespace).headers(Role.ADMIN)
    )
    assert empty.status_code == 200
    nothing = empty.json()
    assert (nothing["content_items"], nothing["shares"], nothing["potential_reach"]) == (0, 0, 0)

    for role in (Role.EMPLOYEE, Role.REVIEWER):
        denied = await metrics.client.get(SUMMARY, headers=org.headers(role))
        assert denied.status_code == 403, (role, denied.text)
        assert denied.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"content_ids": None},
        {"content_ids": "3f1c2d8e-0000-4000-8000-000000000000"},
        {"content_ids": ["not-a-uuid"]},
        {"content_ids": [1, 2]},
        {"content_ids": [str(uuid.uuid4()) for _ in range(101)]},
        {"content_ids": [], "extra": True},
        {"ids": [str(uuid.uuid4())]},
        [str(uuid.uuid4())],
        "not an object",
    ],
)
async def test_batch_rejects_bad_bodies(metrics: Metrics, org: Org, body: Any) -> None:
    response = await metrics.client.post(BATCH, json=body, headers=org.headers())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]


async def test_malformed_requests_answer_4xx_in_the_error_shape(metrics: Metrics, org: Org) -> None:
    bad_json = await metrics.client.post(
        BATCH, content=b'{"content_ids": [', headers={**org.headers(), "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422, bad_json.text
    assert bad_json.json()["error"]["code"] == "validation_failed"

    bad_id = await metrics.client.get(f"{STATS}/not-a-uuid", headers=org.headers())
    assert bad_id.status_code == 422, bad_id.text
    assert bad_id.json()["error"]["code"] == "validation_failed"
    assert bad_id.json()["error"]["details"][0]["loc"] == ["path", "content_id"]

    for method, path in (("GET", f"{STATS}/{new_id()}"), ("POST", BATCH), ("GET", SUMMARY)):
        response = await metrics.client.request(method, path, json={"content_ids": []})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_a_click_without_a_visitor_hash_counts_but_not_as_unique(metrics: Metrics, org: Org) -> None:
    content_id = new_id()
    share = org.share(content_id, reach=10)
    await org.publish_share(share)
    await org.click(share, "")
    await org.click(share, "")
    await org.click(share, "visitor-a")
    body = await stats_become(metrics.client, org, content_id, clicks=3)
    assert body["unique_clicks"] == 1


async def test_uncountable_events_go_to_the_dead_letter_topic_and_the_rest_is_counted(
    metrics: Metrics, org: Org, infra: Infra
) -> None:
    content_id = new_id()
    await org.publish_content(content_id)
    poisons = {
        (await org.publish_share(org.share("not-a-uuid", reach=10))).event_id: b"content_id is not a UUID",
        (await org.publish_share(org.share(content_id, reach=-5))).event_id: b"potential_reach is negative",
    }
    share = org.share(content_id, reach=60)
    await org.publish_share(share)
    await org.click(share, "visitor-a")
    body = await stats_become(metrics.client, org, content_id, clicks=1)
    assert (body["shares"], body["potential_reach"]) == (1, 60)

    consumer = AIOKafkaConsumer(
        dead_letter_topic(f"{metrics.namespace}.{topic_of('sharing')}"),
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex}",
    )
    errors: dict[str, bytes] = {}
    await consumer.start()
    try:

        async def all_dead_lettered() -> bool:
            batch = await consumer.getmany(timeout_ms=250)
            for record in (r for records in batch.values() for r in records):
                headers = dict(record.headers or ())
                event_id = parse_envelope(record.value or b"").event_id
                if event_id in poisons and headers.get("dlt.consumer_group") == b"metrics.rollups":
                    errors[event_id] = headers["dlt.error"]
            return errors.keys() == poisons.keys()

        await eventually(all_dead_lettered)
    finally:
        await consumer.stop()
    for event_id, reason in poisons.items():
        assert reason in errors[event_id]

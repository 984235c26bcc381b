"""Subscriptions pushed from events on the real broker: two gateway replicas (two apps, each a real
server with its own consumer) each push to their own subscribers; an event is only a trigger (the share
is re-read with the subscriber's token); another org's event rings nobody; a late subscriber gets the
current state first. The safety re-read is set to a minute, so anything within these tests' few
seconds came from an event."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision
from condividi.contracts.sharing_pb2 import SharePublished
from condividi.events import new_envelope, topic_of
from condividi.kafka import ensure_topics, make_producer
from condividi.testing import Infra, Issuer
from gateway.live import Hub, ShareEvent, decode
from gateway.main import build_app
from gateway.relay import to_global_id
from gateway.settings import GatewaySettings
from gateway.tests.conftest import ORG, employee_headers, gateway_settings
from gateway.tests.fakes import Downstream, ServerThread
from services.sharing.models import ShareStatus

SHARE_UPDATED = "subscription($id: ID!) { shareUpdated(id: $id) { status } }"


def add_share(downstream: Downstream, status: str = "pending_policy", member: str = "employee-1") -> str:
    return str(downstream.add_share(member=member, status=ShareStatus(status)).id)


def set_status(downstream: Downstream, share_id: str, status: str) -> None:
    downstream.update_share(uuid.UUID(share_id), status=status)


def reads_of(downstream: Downstream, share_id: str) -> list[str]:
    """The tokens each re-read of a share was made with."""
    return [c.headers["authorization"] for c in downstream.calls_to("sharing", f"/api/v1/shares/{share_id}")]


@pytest.fixture
def live_settings(infra: Infra, issuer: Issuer, downstream: Downstream) -> GatewaySettings:
    return gateway_settings(
        issuer,
        downstream,
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap,
        KAFKA_NAMESPACE=f"live{uuid.uuid4().hex[:8]}",
        GRAPHQL_LIVE_EVENTS=True,
        GRAPHQL_SUBSCRIPTION_REREAD_SECONDS=60.0,
    )


@pytest.fixture
def replicas(live_settings: GatewaySettings) -> Iterator[list[ServerThread]]:
    asyncio.run(ensure_topics(live_settings, [live_settings.kafka_name(topic_of(p)) for p in ("sharing", "policy")]))
    apps = [build_app(live_settings) for _ in range(2)]
    servers = [ServerThread(app, lifespan="on").start() for app in apps]
    try:
        deadline = time.monotonic() + 30
        for app in apps:
            live = app.state.runtime.live
            assert live is not None
            assert live.ready.wait(max(deadline - time.monotonic(), 0.1)), "the live consumer never got ready"
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def producer(live_settings: GatewaySettings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = make_producer(live_settings)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def publish(
    kafka: AIOKafkaProducer, settings: GatewaySettings, producer: str, payload: Message, key: str, org: str = ORG
) -> None:
    """``key`` is the aggregate id, which picks the partition: events with one key stay in order."""
    envelope = new_envelope(payload, org_id=org, aggregate_id=key, producer=producer)
    topic = settings.kafka_name(topic_of(producer))
    await kafka.send_and_wait(topic, envelope.SerializeToString(), key=key.encode())


@asynccontextmanager
async def subscribed(server: ServerThread, token: str, share_id: str) -> AsyncIterator[ClientConnection]:
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": SHARE_UPDATED, "variables": {"id": to_global_id("Share", share_id)}}
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": payload}))
        yield ws


async def next_status(ws: ClientConnection, within: float = 10.0) -> str:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert message["type"] == "next", message
    status: str = message["payload"]["data"]["shareUpdated"]["status"]
    return status


async def completed(ws: ClientConnection) -> bool:
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return bool(message == {"id": "s", "type": "complete"})


async def test_each_replica_pushes_to_its_own_subscribers_from_events(
    replicas: list[ServerThread],
    producer: AIOKafkaProducer,
    live_settings: GatewaySettings,
    issuer: Issuer,
    downstream: Downstream,
) -> None:
    first, second = replicas
    alice = employee_headers(issuer, subject="employee-1")["Authorization"]
    bob = employee_headers(issuer, subject="employee-2")["Authorization"]
    published = add_share(downstream)
    reviewed = add_share(downstream, member="employee-2")

    async with (
        subscribed(first, alice, published) as on_first,
        subscribed(second, alice, published) as on_second,
        subscribed(second, bob, reviewed) as reviewer_watch,
    ):
        assert [await next_status(ws) for ws in (on_first, on_second, reviewer_watch)] == ["PENDING_POLICY"] * 3

        # Another org's event about the share rings nobody: no re-read follows it.
        await publish(
            producer, live_settings, "sharing", SharePublished(share_id=reviewed), reviewed, str(uuid.uuid4())
        )
        set_status(downstream, published, "published")
        await publish(producer, live_settings, "sharing", SharePublished(share_id=published), published)

        # Both replicas read the event and push to their own subscriber of that share.
        assert await next_status(on_first) == "PUBLISHED"
        assert await next_status(on_second) == "PUBLISHED"
        assert await completed(on_first) and await completed(on_second)
        assert reads_of(downstream, reviewed) == [bob]  # only the first read: the foreign event rang nothing

        # Policy holds the share for review; sharing records it without an event of its own.
        set_status(downstream, reviewed, "needs_review")
        decision = ShareDecision(share_id=reviewed, outcome=DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW)
        await publish(producer, live_settings, "policy", decision, reviewed)
        assert await next_status(reviewer_watch) == "NEEDS_REVIEW"
        assert await completed(reviewer_watch)

    # Each share re-read with its own subscriber's token: once on subscribing, once per event rung.
    assert reads_of(downstream, published) == [alice] * 4
    assert reads_of(downstream, reviewed) == [bob] * 2


async def test_a_decision_applied_after_its_event_is_caught_by_the_follow_ups(
    replicas: list[ServerThread],
    producer: AIOKafkaProducer,
    live_settings: GatewaySettings,
    issuer: Issuer,
    downstream: Downstream,
) -> None:
    """The gateway may hear policy's decision before sharing has applied it."""
    token = employee_headers(issuer)["Authorization"]
    share_id = add_share(downstream)
    async with subscribed(replicas[0], token, share_id) as ws:
        assert await next_status(ws) == "PENDING_POLICY"
        decision = ShareDecision(share_id=share_id, outcome=DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW)
        await publish(producer, live_settings, "policy", decision, share_id)
        await asyncio.sleep(0.3)  # sharing is slow to apply it
        set_status(downstream, share_id, "needs_review")

        assert await next_status(ws) == "NEEDS_REVIEW"


async def test_a_late_subscriber_gets_the_current_state_first(
    replicas: list[ServerThread], issuer: Issuer, downstream: Downstream
) -> None:
    token = employee_headers(issuer)["Authorization"]
    share_id = add_share(downstream, status="rejected")

    async with subscribed(replicas[1], token, share_id) as ws:
        assert await next_status(ws, within=5) == "REJECTED"
        assert await completed(ws)


# --- the pieces ---------------------------------------------------------------------------------


def test_decode_reads_the_share_and_org_and_skips_other_events() -> None:
    share_id, org = uuid.uuid4(), uuid.uuid4()
    decision = new_envelope(ShareDecision(share_id=str(share_id)), org_id=org, aggregate_id=share_id, producer="policy")
    other = new_envelope(ShareDecision(share_id="not-a-uuid"), org_id=org, aggregate_id="x", producer="policy")

    event = decode(decision.SerializeToString())

    assert event == ShareEvent(share_id=share_id, org_id=org, type="condividi.policy.v1.ShareDecision")
    assert event is not None and event.is_decision
    with pytest.raises(ValueError, match="share_id"):
        decode(other.SerializeToString())


async def test_the_hub_rings_only_watches_of_that_share_in_that_org() -> None:
    hub = Hub()
    share, org = uuid.uuid4(), uuid.uuid4()
    with hub.watch(share, org) as mine, hub.watch(uuid.uuid4(), org) as other:
        assert hub.deliver(ShareEvent(share, uuid.uuid4(), "x")) == 0
        assert hub.deliver(ShareEvent(share, org, "x")) == 1
        assert await mine.wait(1) is True
        assert await other.wait(0.05) is False
        assert await mine.wait(0.05) is False  # one ring, one wake-up
    assert hub.watching == 0

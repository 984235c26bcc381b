"""The authoritative decision: a real ``ShareRequested`` on Kafka in, a ``ShareDecision`` on Kafka out, and
the decision readable over REST."""

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision
from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.events import ReceivedEvent, new_envelope, open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")

LINK = "https://go.acme.example/r/abc123"
Records = list[ConsumerRecord[bytes, bytes]]


def share_requested(org: uuid.UUID, share_id: str, *, network: str, text: str, member: str = "employee-1") -> Envelope:
    payload = ShareRequested(
        share_id=share_id, member_id=member, content_id=str(uuid.uuid4()), network=network, text=text, url=LINK
    )
    return new_envelope(payload, org_id=org, aggregate_id=share_id, producer="sharing")


async def produce(infra: Infra, *envelopes: Envelope, key: str | None = None) -> None:
    """Sends in order; one ``key`` for all puts them on one partition, so they are consumed in order."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                "condividi.sharing",
                value=envelope.SerializeToString(),
                key=(key or envelope.aggregate_id).encode(),
            )
    finally:
        await producer.stop()


async def read_until(infra: Infra, topic: str, done: Callable[[Records], bool], seconds: float = 30.0) -> Records:
    """Every record of ``topic`` from the start, read until ``done`` says enough."""
    # Partitions assigned by hand, without a group: a group join alone costs the broker's rebalance delay.
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: Records = []
    try:
        async with asyncio.timeout(seconds):
            partitions: set[int] | None = None
            while not partitions:
                await consumer.topics()  # refreshes the metadata; the topic may not exist yet
                partitions = consumer.partitions_for_topic(topic)
            assigned = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while not done(records):
                batch = await consumer.getmany(timeout_ms=250)
                records += [r for rs in batch.values() for r in rs]
    except TimeoutError:
        pytest.fail(f"nothing on {topic} satisfied the test within {seconds}s ({len(records)} records read)")
    finally:
        await consumer.stop()
    return records


async def read_to_end(infra: Infra, topic: str) -> Records:
    """Every record of ``topic`` written so far."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: Records = []
    try:
        async with asyncio.timeout(30):
            await consumer.topics()
            assigned = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            ends = await consumer.end_offsets(assigned)
            for partition, end in ends.items():
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=250)
                    records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return records


def decisions_for(records: Records, share_id: str) -> list[ReceivedEvent[ShareDecision]]:
    found = []
    for record in records:
        envelope = parse_envelope(record.value or b"")
        if envelope.aggregate_id == share_id and envelope.type == ShareDecision.DESCRIPTOR.full_name:
            found.append(open_envelope(envelope, ShareDecision))
    return found


async def wait_for_decision(infra: Infra, share_id: str) -> ReceivedEvent[ShareDecision]:
    records = await read_until(infra, "condividi.policy", lambda rs: bool(decisions_for(rs, share_id)))
    return decisions_for(records, share_id)[0]


async def test_too_long_share_is_rejected_announced_and_readable(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org, share_id = new_org(), str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="x", text="a" * 257))

    decision = await wait_for_decision(infra, share_id)
    assert decision.org_id == org
    assert decision.producer == "policy"
    assert decision.payload.share_id == share_id
    assert decision.payload.outcome == DecisionOutcome.DECISION_OUTCOME_REJECTED
    assert [(v.code, v.message) for v in decision.payload.violations] == [
        ("too_long", "The post is 281 characters with the link; X allows 280.")
    ]

    response = await client.get(
        f"/api/v1/share-decisions/{share_id}", headers=headers(issuer, org, Role.EMPLOYEE, subject="employee-1")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decided_at"]
    assert {k: v for k, v in body.items() if k != "decided_at"} == {
        "share_id": share_id,
        "member_id": "employee-1",
        "outcome": "rejected",
        "violations": [{"code": "too_long", "message": "The post is 281 characters with the link; X allows 280."}],
        # Every finding with its action (issue 8); the length is about the whole post, so no span.
        "findings": [
            {
                "code": "too_long",
                "message": "The post is 281 characters with the link; X allows 280.",
                "action": "reject",
                "start": None,
                "end": None,
                "rule_id": None,
            }
        ],
    }


async def test_share_within_the_rules_is_approved(client: httpx.AsyncClient, issuer: Issuer, infra: Infra) -> None:
    org, share_id = new_org(), str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="LinkedIn", text="Proud of our new plant!"))

    decision = await wait_for_decision(infra, share_id)
    assert decision.payload.outcome == DecisionOutcome.DECISION_OUTCOME_APPROVED
    assert list(decision.payload.violations) == []
    response = await client.get(f"/api/v1/share-decisions/{share_id}", headers=headers(issuer, org, Role.EMPLOYEE))
    assert response.status_code == 200, response.text
    assert (response.json()["outcome"], response.json()["violations"]) == ("approved", [])


async def test_a_share_to_a_network_outside_the_table_is_rejected_with_the_reason(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    # An event cannot be answered with a 422: the decision itself says why.
    org, share_id = new_org(), str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="instagram", text="hello"))

    decision = await wait_for_decision(infra, share_id)
    assert decision.payload.outcome == DecisionOutcome.DECISION_OUTCOME_REJECTED
    [violation] = decision.payload.violations
    assert violation.code == "unsupported_network"
    assert violation.message.startswith("Sharing to 'instagram' is not supported;")
    response = await client.get(f"/api/v1/share-decisions/{share_id}", headers=headers(issuer, org, Role.EMPLOYEE))
    assert response.status_code == 200, response.text
    assert [v["code"] for v in response.json()["violations"]] == ["unsupported_network"]


async def test_a_decision_is_visible_to_its_employee_and_reviewers_only(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org, share_id = new_org(), str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="threads", text="hello", member="alice"))
    await wait_for_decision(infra, share_id)
    path = f"/api/v1/share-decisions/{share_id}"

    for allowed in (
        headers(issuer, org, Role.EMPLOYEE, subject="alice"),
        headers(issuer, org, Role.REVIEWER, subject="rita"),
        headers(issuer, org, Role.ADMIN, subject="ada"),
    ):
        response = await client.get(path, headers=allowed)
        assert response.status_code == 200, response.text
        assert response.json()["member_id"] == "alice"

    for refused in (
        headers(issuer, org, Role.EMPLOYEE, subject="bob"),  # a colleague
        headers(issuer, org, Role.MANAGER, subject="mario"),
        headers(issuer, new_org(), Role.ADMIN, subject="ada"),  # another org, even its admin
    ):
        response = await client.get(path, headers=refused)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"

    missing = await client.get(f"/api/v1/share-decisions/{uuid.uuid4()}", headers=headers(issuer, org, Role.ADMIN))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    bad_id = await client.get("/api/v1/share-decisions/not-a-uuid", headers=headers(issuer, org, Role.ADMIN))
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["code"] == "validation_failed"


async def test_a_share_is_decided_once_and_a_repeated_request_hears_the_same_decision(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org, share_id, marker_id = new_org(), str(uuid.uuid4()), str(uuid.uuid4())
    first = share_requested(org, share_id, network="x", text="a" * 300)
    # The same share requested again with a new event id, and a text that would pass this time.
    again = share_requested(org, share_id, network="x", text="short")
    marker = share_requested(org, marker_id, network="x", text="marker")
    # first twice (a redelivery: the inbox drops it), then again, then the marker, all on one partition:
    # once the marker's decision is out, everything before it has been handled.
    await produce(infra, first, first, again, marker, key=share_id)

    records = await read_until(infra, "condividi.policy", lambda rs: bool(decisions_for(rs, marker_id)))
    decisions = decisions_for(records, share_id)
    # One for the first request (its redelivery is dropped by the inbox), one for the repeat: the same
    # decision announced again (sharing asks again when a decision is late), never a new one.
    assert len(decisions) == 2, decisions
    assert decisions[0].payload == decisions[1].payload
    # The repeat was absorbed, not failed: nothing of this test went to the dead-letter topic.
    ours = {first.event_id, again.event_id, marker.event_id}
    dead = await read_to_end(infra, "condividi.sharing.dlt")
    assert [r for r in dead if parse_envelope(r.value or b"").event_id in ours] == []
    assert decisions[0].payload.outcome == DecisionOutcome.DECISION_OUTCOME_REJECTED
    response = await client.get(f"/api/v1/share-decisions/{share_id}", headers=headers(issuer, org, Role.ADMIN))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "rejected"
    assert [v["code"] for v in response.json()["violations"]] == ["too_long"]


async def test_a_share_without_a_valid_id_goes_to_the_dead_letter_topic(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    poison = share_requested(new_org(), "not-a-uuid", network="x", text="hi")

    def dead_lettered(records: Records) -> bool:
        return any(parse_envelope(r.value or b"").event_id == poison.event_id for r in records)

    await produce(infra, poison)
    records = await read_until(infra, "condividi.sharing.dlt", dead_lettered)
    record = next(r for r in records if parse_envelope(r.value or b"").event_id == poison.event_id)
    error = dict(record.headers)["dlt.error"].decode()
    assert "share_id that is not a UUID" in error
    assert dict(record.headers)["dlt.consumer_group"] == b"policy.share-decisions"

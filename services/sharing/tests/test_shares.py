import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.message import Message

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision, Violation
from condividi.contracts.sharing_pb2 import LinkClicked, SharePublished, ShareRequested
from condividi.events import new_envelope, open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app as build_content_app
from services.content.settings import ContentSettings
from services.sharing.links import with_utm
from services.sharing.main import build_app
from services.sharing.settings import SharingSettings

ORG = uuid.uuid4()
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"}


@dataclass
class Harness:
    client: httpx.AsyncClient
    issuer: Issuer
    kafka: str
    namespace: str
    producer: AIOKafkaProducer

    def topic(self, name: str) -> str:
        return f"{self.namespace}.condividi.{name}"

    async def publish(self, name: str, payload: Message, *, org: uuid.UUID, aggregate: str) -> None:
        envelope = new_envelope(payload, org_id=org, aggregate_id=aggregate, producer=name)
        await self.producer.send_and_wait(self.topic(name), envelope.SerializeToString(), key=aggregate.encode())

    async def events(
        self, name: str, payload_class: type[Any], match: Callable[[Any], bool], *, count: int = 1
    ) -> list[Any]:
        consumer = AIOKafkaConsumer(
            self.topic(name), bootstrap_servers=self.kafka, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        found: list[Any] = []
        try:
            for _ in range(60):
                for record in (r for rs in (await consumer.getmany(timeout_ms=200)).values() for r in rs):
                    envelope = parse_envelope(record.value)
                    if envelope.type == payload_class.DESCRIPTOR.full_name:
                        event = open_envelope(envelope, payload_class)
                        if match(event):
                            found.append(event)
                if len(found) >= count:
                    return found
        finally:
            await consumer.stop()
        return found


def employee(issuer: Issuer, subject: str = "emp-1", org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=subject)


@pytest.fixture
async def harness(infra: Infra, issuer: Issuer) -> AsyncIterator[Harness]:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    env = service_env(infra, issuer, "sharing", infra.new_database("sharing"), kafka_namespace=namespace)
    settings = SharingSettings(**env, PUBLIC_BASE_URL="https://go.acme.example", CLICK_HASH_SALT="s3cret")
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        async with running(build_app(settings)) as client:
            yield Harness(client, issuer, infra.kafka_bootstrap, namespace, producer)
    finally:
        await producer.stop()


async def poll(fetch: Callable[[], Any], until: Callable[[Any], bool], within: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await fetch()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def published_content(h: Harness, url: str = "https://acme.example/news?id=7") -> str:
    content_id = str(uuid.uuid4())
    await h.publish(
        "content", ContentPublished(content_id=content_id, title="Plant", url=url), org=ORG, aggregate=content_id
    )
    return content_id


async def create_share(h: Harness, content_id: str, text: str = "My own words", network: str = "x") -> dict[str, Any]:
    async def attempt() -> httpx.Response:
        return await h.client.post(
            "/api/v1/shares",
            json={"content_id": content_id, "network": network, "text": text},
            headers=employee(h.issuer),
        )

    # The catalog fills from the ContentPublished event; until then the item is unknown here (and
    # no content service runs in these tests to ask instead).
    response = await poll(attempt, lambda r: r.status_code == 202)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def decide(h: Harness, share_id: str, outcome: int, violations: list[Violation] | None = None) -> None:
    await h.publish(
        "policy",
        ShareDecision(share_id=share_id, outcome=outcome, violations=violations or []),
        org=ORG,
        aggregate=share_id,
    )


async def share_when(h: Harness, share_id: str, status: str) -> dict[str, Any]:
    response = await poll(
        lambda: h.client.get(f"/api/v1/shares/{share_id}", headers=employee(h.issuer)),
        lambda r: r.json().get("status") == status,
    )
    assert response.json()["status"] == status, response.text
    return dict(response.json())


async def test_approved_share_gets_intent_link_and_clicks_are_counted(harness: Harness) -> None:
    h = harness
    content_id = await published_content(h)
    share = await create_share(h, content_id)
    assert share["status"] == "pending_policy"
    tracking = share["tracking_url"]
    assert tracking.startswith("https://go.acme.example/r/")

    requested = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    assert requested and requested[0].payload.url == tracking
    assert requested[0].payload.text == "My own words"

    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    share = await share_when(h, share["id"], "published")
    intent = urlsplit(share["intent_url"])
    assert intent.netloc == "x.com"
    assert parse_qs(intent.query) == {"text": ["My own words"], "url": [tracking]}
    assert share["publish_method"] == "intent"
    assert await h.events("sharing", SharePublished, lambda e: e.payload.share_id == share["id"])

    code = tracking.rsplit("/", 1)[1]
    click = await h.client.get(f"/r/{code}", headers=BROWSER)
    assert click.status_code == 302
    location = urlsplit(click.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "acme.example", "/news")
    assert parse_qs(location.query) == {
        "id": ["7"],
        "utm_source": ["x"],
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": ["condividi"],
        "utm_content": [share["id"]],
    }
    crawler = await h.client.get(f"/r/{code}", headers={"User-Agent": "LinkedInBot/1.0 (compatible; Mozilla/5.0)"})
    assert crawler.status_code == 302
    await h.client.get(f"/r/{code}", headers=BROWSER)

    # Clicks of one share stay in order on one partition: had the crawler's request (between the two
    # browser clicks) been counted, it would be the second event, with another visitor hash.
    clicks = await h.events("sharing", LinkClicked, lambda e: e.payload.tracking_code == code, count=2)
    assert len(clicks) == 2
    assert clicks[0].payload.share_id == share["id"]
    assert clicks[0].payload.visitor_hash == clicks[1].payload.visitor_hash, "the crawler was counted"
    assert "127.0.0.1" not in clicks[0].payload.visitor_hash


async def test_rejected_share_carries_the_reasons(harness: Harness) -> None:
    h = harness
    share = await create_share(h, await published_content(h), text="x" * 300)
    reason = Violation(code="too_long", message="The post is 324 characters with the link; X allows 280.")
    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_REJECTED, [reason])
    share = await share_when(h, share["id"], "rejected")
    assert share["violations"] == [{"code": "too_long", "message": reason.message}]
    assert share["intent_url"] is None
    code = share["tracking_url"].rsplit("/", 1)[1]
    assert (await h.client.get(f"/r/{code}", headers=BROWSER)).status_code == 404


async def test_unsafe_content_url_is_never_a_redirect_target(harness: Harness) -> None:
    h = harness
    content_id = await published_content(h, url="javascript:alert(1)")
    good = await published_content(h)
    await create_share(h, good)  # once the good one is in, the bad one (sent first) has been handled
    response = await h.client.post(
        "/api/v1/shares", json={"content_id": content_id, "network": "x", "text": "hi"}, headers=employee(h.issuer)
    )
    assert response.status_code in (404, 503), response.text


async def test_share_of_another_org_is_not_found(harness: Harness) -> None:
    h = harness
    share = await create_share(h, await published_content(h))
    other = employee(h.issuer, org=uuid.uuid4())
    assert (await h.client.get(f"/api/v1/shares/{share['id']}", headers=other)).status_code == 404
    colleague = employee(h.issuer, subject="emp-2")
    assert (await h.client.get(f"/api/v1/shares/{share['id']}", headers=colleague)).status_code == 404
    reviewer = h.issuer.headers(org=ORG, roles=[Role.REVIEWER], subject="rev-1")
    assert (await h.client.get(f"/api/v1/shares/{share['id']}", headers=reviewer)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"content_id": "not-a-uuid", "network": "x"},
        {"content_id": str(uuid.uuid4()), "network": "myspace"},
        {"content_id": str(uuid.uuid4()), "network": "x", "text": "x" * 70_001},
        {"content_id": str(uuid.uuid4()), "network": "x", "text": 12},
    ],
)
async def test_create_share_rejects_bad_input(harness: Harness, body: dict[str, Any]) -> None:
    response = await harness.client.post("/api/v1/shares", json=body, headers=employee(harness.issuer))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"


async def test_redirect_rejects_unknown_and_malformed_codes(harness: Harness) -> None:
    for path in ("/r/unknown1", "/r/../../etc", "/r/", "/r/a%20b", "/r/abcdefgh%0A"):
        response = await harness.client.get(path, headers=BROWSER)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    posted = await harness.client.post("/r/abcdefgh")
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"
    assert posted.json()["error"]["code"] == "method_not_allowed"


def test_utm_parameters_keep_the_curators_query_as_it_is() -> None:
    share_id = uuid.uuid4()
    signed = "https://acme.example/a?flag&sig=AbC%2Fd%3D&utm_campaign=spring"
    tagged = with_utm(signed, network="linkedin", share_id=share_id)
    assert tagged.startswith(signed + "&")
    assert parse_qs(urlsplit(tagged).query)["utm_campaign"] == ["spring"]
    assert parse_qs(urlsplit(tagged).query)["utm_source"] == ["linkedin"]
    assert with_utm("https://acme.example/", network="x", share_id=share_id).startswith(
        "https://acme.example/?utm_source=x&"
    )


async def test_connection_sets_potential_reach(harness: Harness) -> None:
    h = harness
    created = await h.client.post(
        "/api/v1/connections",
        json={"network": "x", "handle": "@emp1", "audience_size": 1200},
        headers=employee(h.issuer),
    )
    assert created.status_code == 201, created.text
    again = await h.client.post(
        "/api/v1/connections", json={"network": "X", "handle": "@emp1", "audience_size": 5}, headers=employee(h.issuer)
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    share = await create_share(h, await published_content(h))
    assert share["potential_reach"] == 1200
    bad = await h.client.post(
        "/api/v1/connections", json={"network": "x", "handle": "", "audience_size": -1}, headers=employee(h.issuer)
    )
    assert bad.status_code == 422
    connection_id = created.json()["id"]
    other = employee(h.issuer, subject="emp-2")
    assert (await h.client.delete(f"/api/v1/connections/{connection_id}", headers=other)).status_code == 404
    assert (
        await h.client.delete(f"/api/v1/connections/{connection_id}", headers=employee(h.issuer))
    ).status_code == 204
    assert (await h.client.get("/api/v1/connections", headers=employee(h.issuer))).json() == []


async def test_share_of_an_item_not_yet_in_the_catalog_asks_the_content_service(
    harness: Harness, infra: Infra, issuer: Issuer
) -> None:
    """An employee can share an item the second it is published, before ContentPublished reaches
    sharing: sharing asks the content service (the real one, in-process here) with the caller's token."""
    content_settings = ContentSettings(**service_env(infra, issuer, "content", infra.new_database("content")))
    async with running(build_content_app(content_settings)) as content:
        curator = issuer.headers(org=ORG, roles=[Role.CURATOR], subject="curator-1")
        item = (
            await content.post(
                "/api/v1/content-items", json={"title": "Fresh", "url": "https://acme.example/fresh"}, headers=curator
            )
        ).json()
        runtime = harness.client._transport.app.state.runtime  # type: ignore[attr-defined]
        runtime.http = content
        runtime.settings.CONTENT_SERVICE_URL = ""
        draft = await harness.client.post(
            "/api/v1/shares", json={"content_id": item["id"], "network": "x", "text": "early"}, headers=employee(issuer)
        )
        assert draft.status_code == 404, "a draft is not shareable"
        await content.post(f"/api/v1/content-items/{item['id']}/publish", headers=curator)
        created = await harness.client.post(
            "/api/v1/shares", json={"content_id": item["id"], "network": "x", "text": "early"}, headers=employee(issuer)
        )
        assert created.status_code == 202, created.text
        other_org = await harness.client.post(
            "/api/v1/shares",
            json={"content_id": item["id"], "network": "x", "text": "mine?"},
            headers=employee(issuer, org=uuid.uuid4()),
        )
        assert other_org.status_code == 404


async def test_a_tracking_code_clash_draws_another_code(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    content_id = await published_content(h)
    first = await create_share(h, content_id)
    taken = first["tracking_url"].rsplit("/", 1)[1]
    codes = iter([taken, "FreshCode1"])
    monkeypatch.setattr("services.sharing.api.new_tracking_code", lambda: next(codes))
    second = await h.client.post(
        "/api/v1/shares", json={"content_id": content_id, "network": "x", "text": "again"}, headers=employee(h.issuer)
    )
    assert second.status_code == 202, second.text
    assert second.json()["tracking_url"].endswith("/r/FreshCode1")


async def test_events_carry_the_trace_of_what_caused_them(harness: Harness) -> None:
    h = harness
    request_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    decision_trace = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    content_id = await published_content(h)
    await create_share(h, content_id)  # the catalog now knows the item
    created = await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": "x", "text": "traced"},
        headers={**employee(h.issuer), "traceparent": request_trace},
    )
    share_id = created.json()["id"]
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share_id)
    assert requested.traceparent == request_trace

    envelope = new_envelope(
        ShareDecision(share_id=share_id, outcome=DecisionOutcome.DECISION_OUTCOME_APPROVED),
        org_id=ORG,
        aggregate_id=share_id,
        producer="policy",
        traceparent=decision_trace,
    )
    await h.producer.send_and_wait(h.topic("policy"), envelope.SerializeToString(), key=share_id.encode())
    [published] = await h.events("sharing", SharePublished, lambda e: e.payload.share_id == share_id)
    assert published.traceparent == decision_trace

    bogus = await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": "x", "text": "bogus trace"},
        headers={**employee(h.issuer), "traceparent": "not-a-trace"},
    )
    [untraced] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == bogus.json()["id"])
    assert untraced.traceparent == ""

import asyncio
import base64
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.message import Message
from prometheus_client import REGISTRY
from sqlalchemy import text

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.policy_pb2 import DecisionOutcome, MemberDeactivated, ShareDecision, Violation
from condividi.contracts.sharing_pb2 import LinkClicked, SharePublished, ShareRejected, ShareRequested
from condividi.events import new_envelope, open_envelope, parse_envelope
from condividi.identity import Role
from condividi.observability import valid_traceparent
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app as build_content_app
from services.content.settings import ContentSettings
from services.sharing.click_filter import visitor_digest
from services.sharing.links import prefers_html, with_utm
from services.sharing.main import build_app
from services.sharing.settings import SharingSettings

ORG = uuid.uuid4()
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"}
OTHER_BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


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
    async with started_harness(infra, issuer) as h:
        yield h


@contextlib.asynccontextmanager
async def started_harness(infra: Infra, issuer: Issuer) -> AsyncIterator[Harness]:
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
    assert share["tracking_url"] is None and share["intent_url"] is None, "no link until it is published"

    requested = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    tracking = requested[0].payload.url
    assert tracking.startswith("https://go.acme.example/r/")
    assert requested[0].payload.text == "My own words"

    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    share = await share_when(h, share["id"], "published")
    assert share["tracking_url"] == tracking
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
    again = await h.client.get(f"/r/{code}", headers=BROWSER)
    assert again.status_code == 302, "a repeat is answered, though not counted"
    await h.client.get(f"/r/{code}", headers=OTHER_BROWSER)

    # Clicks of one share stay in order on one partition: had the crawler's request or the repeat been
    # counted, the second event would be theirs, not the other browser's.
    clicks = await h.events("sharing", LinkClicked, lambda e: e.payload.tracking_code == code, count=2)
    assert len(clicks) == 2
    assert clicks[0].payload.share_id == share["id"]
    key = hashlib.blake2b(b"s3cret").digest()
    expected = [
        visitor_digest(
            key, code=code, day=int(c.occurred_at.timestamp()) // 86_400, ip="127.0.0.1", user_agent=ua.encode()
        ).hex()
        for c, ua in zip(clicks, (BROWSER["User-Agent"], OTHER_BROWSER["User-Agent"]), strict=True)
    ]
    assert [c.payload.visitor_hash for c in clicks] == expected, "the crawler or the repeat was counted"


def clicks_total(outcome: str) -> float:
    return REGISTRY.get_sample_value("clicks_total", {"outcome": outcome}) or 0.0


async def test_one_visitor_clicking_again_and_again_counts_once_and_the_rest_is_reported(harness: Harness) -> None:
    h = harness
    share = await create_share(h, await published_content(h))
    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    code = (await share_when(h, share["id"], "published"))["tracking_url"].rsplit("/", 1)[1]
    repeats, rate_limited = clicks_total("filtered_repeat"), clicks_total("filtered_visitor_rate")

    for _ in range(50):
        assert (await h.client.get(f"/r/{code}", headers=BROWSER)).status_code == 302
    # A new "visitor" per user agent, from one address: counted only up to the rate per address (30 a
    # minute by default).
    for n in range(40):
        agent = {"User-Agent": f"{BROWSER['User-Agent']} Build/{n}"}
        assert (await h.client.get(f"/r/{code}", headers=agent)).status_code == 302

    assert clicks_total("filtered_repeat") - repeats == 49
    assert clicks_total("filtered_visitor_rate") - rate_limited == 40 - 29
    clicks = await h.events("sharing", LinkClicked, lambda e: e.payload.tracking_code == code, count=30)
    assert len(clicks) == 30
    assert len({c.payload.visitor_hash for c in clicks}) == 30


async def test_list_of_shares_refuses_a_cursor_it_did_not_hand_out(harness: Harness) -> None:
    h = harness
    await create_share(h, await published_content(h))
    first = await h.client.get("/api/v1/shares", params={"limit": 1}, headers=employee(h.issuer))
    assert first.status_code == 200 and len(first.json()["items"]) == 1, first.text
    share_id = first.json()["items"][0]["id"]
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"):
        cursor = base64.urlsafe_b64encode(json.dumps([at, share_id]).encode()).decode()
        bad = await h.client.get("/api/v1/shares", params={"cursor": cursor}, headers=employee(h.issuer))
        assert bad.status_code == 400, (at, bad.text)
        assert bad.json()["error"]["code"] == "invalid_cursor"


async def test_rejected_share_carries_the_reasons(harness: Harness) -> None:
    h = harness
    share = await create_share(h, await published_content(h), text="x" * 300)
    reason = Violation(code="too_long", message="The post is 324 characters with the link; X allows 280.")
    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_REJECTED, [reason])
    share = await share_when(h, share["id"], "rejected")
    assert share["violations"] == [{"code": "too_long", "message": reason.message}]
    assert share["intent_url"] is None
    assert share["tracking_url"] is None, "a rejected share has no link to hand out"
    [rejected] = await h.events("sharing", ShareRejected, lambda e: e.payload.share_id == share["id"])
    assert (rejected.org_id, rejected.aggregate_id) == (ORG, share["id"])
    assert (rejected.payload.member_id, rejected.payload.content_id) == ("emp-1", share["content_id"])
    assert list(rejected.payload.reason_codes) == ["too_long"]
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    code = requested.payload.url.rsplit("/", 1)[1]
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


async def test_an_empty_or_blank_text_is_refused(harness: Harness) -> None:
    for blank in ("", "   ", "\n\t ", "\u3000"):
        body = {"content_id": str(uuid.uuid4()), "network": "x", "text": blank}
        response = await harness.client.post("/api/v1/shares", json=body, headers=employee(harness.issuer))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert error["details"] == [{"loc": ["body", "text"], "message": "the text may not be empty or blank"}]
    missing = await harness.client.post(
        "/api/v1/shares", json={"content_id": str(uuid.uuid4()), "network": "x"}, headers=employee(harness.issuer)
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["loc"] == ["body", "text"]


async def test_an_unsupported_network_is_refused_as_policy_refuses_it(harness: Harness) -> None:
    for network in ("myspace", "instagram", "pinterest", "", 7):
        body = {"content_id": str(uuid.uuid4()), "network": network, "text": "hi"}
        response = await harness.client.post("/api/v1/shares", json=body, headers=employee(harness.issuer))
        assert response.status_code == 422, response.text
        [detail] = response.json()["error"]["details"]
        assert detail["loc"] == ["body", "network"]
        if isinstance(network, str):
            assert detail["message"] == (
                "unsupported network; use one of: bluesky, facebook, linkedin, reddit, telegram, threads, whatsapp, x"
            )


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
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == first["id"])
    taken = requested.payload.url.rsplit("/", 1)[1]
    codes = iter([taken, "FreshCode1"])
    monkeypatch.setattr("services.sharing.api.new_tracking_code", lambda: next(codes))
    second = await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": "linkedin", "text": "again"},
        headers=employee(h.issuer),
    )
    assert second.status_code == 202, second.text
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == second.json()["id"])
    assert requested.payload.url.endswith("/r/FreshCode1")


def continues(carried: str, caused_by: str) -> bool:
    version, trace_id, parent_id, flags = carried.split("-")
    cause = caused_by.split("-")
    return (
        valid_traceparent(carried) == carried
        and (version, trace_id, flags) == (cause[0], cause[1], cause[3])
        and (parent_id != cause[2])
    )


async def test_events_carry_the_trace_of_what_caused_them(harness: Harness) -> None:
    h = harness
    request_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    decision_trace = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    content_id = await published_content(h)
    await create_share(h, content_id)  # the catalog now knows the item
    created = await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": "linkedin", "text": "traced"},
        headers={**employee(h.issuer), "traceparent": request_trace},
    )
    share_id = created.json()["id"]
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share_id)
    # The same trace, sampled alike, with the span that emitted the event (this service's, a child
    # of the caller's) as the parent of what handles it.
    assert continues(requested.traceparent, request_trace)

    envelope = new_envelope(
        ShareDecision(share_id=share_id, outcome=DecisionOutcome.DECISION_OUTCOME_APPROVED),
        org_id=ORG,
        aggregate_id=share_id,
        producer="policy",
        traceparent=decision_trace,
    )
    await h.producer.send_and_wait(h.topic("policy"), envelope.SerializeToString(), key=share_id.encode())
    [published] = await h.events("sharing", SharePublished, lambda e: e.payload.share_id == share_id)
    assert continues(published.traceparent, decision_trace)

    bogus = await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": "threads", "text": "bogus trace"},
        headers={**employee(h.issuer), "traceparent": "not-a-trace"},
    )
    [untraced] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == bogus.json()["id"])
    # A malformed traceparent is ignored: the request starts a trace of its own.
    assert valid_traceparent(untraced.traceparent)
    assert untraced.traceparent.split("-")[1] != request_trace.split("-")[1]


# --- one share per intent: Idempotency-Key and duplicate shares --------------------------------


def keyed(issuer: Issuer, key: str, subject: str = "emp-1") -> dict[str, str]:
    return {**employee(issuer, subject), "Idempotency-Key": key}


async def my_shares(h: Harness, content_id: str, subject: str = "emp-1") -> list[dict[str, Any]]:
    response = await h.client.get(
        "/api/v1/shares", params={"content_id": content_id}, headers=employee(h.issuer, subject)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def known_content(h: Harness) -> str:
    """A published item the catalog already holds, and no share of it to x by emp-1."""
    content_id = await published_content(h)
    await create_share(h, content_id, network="telegram")  # waits for the catalog
    return content_id


async def test_a_repeat_with_the_same_key_answers_the_first_share(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "Once only"}
    key = str(uuid.uuid4())
    first = await h.client.post("/api/v1/shares", json=body, headers=keyed(h.issuer, key))
    assert first.status_code == 202, first.text
    again = await h.client.post(
        "/api/v1/shares", json={**body, "network": "X"}, headers=keyed(h.issuer, key)
    )  # the same request, as the API reads it
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    x_shares = [s for s in await my_shares(h, content_id) if s["network"] == "x"]
    assert [s["id"] for s in x_shares] == [first.json()["id"]]

    # Keys are the member's own: a colleague's request with the same key is their own share.
    colleague = await h.client.post("/api/v1/shares", json=body, headers=keyed(h.issuer, key, "emp-2"))
    assert colleague.status_code == 202, colleague.text
    assert colleague.json()["id"] != first.json()["id"]
    assert colleague.json()["member_id"] == "emp-2"
    # Events leave in the order they were written: a second request to policy for the replay would be
    # among the first three (telegram's, the first share's, the colleague's).
    requested = await h.events("sharing", ShareRequested, lambda e: e.payload.content_id == content_id, count=3)
    mine = [e for e in requested if e.payload.member_id == "emp-1" and e.payload.network == "x"]
    assert [e.payload.share_id for e in mine] == [first.json()["id"]], "the replay asked policy again"


async def test_the_same_key_for_another_request_is_refused(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    key = "order-7"
    body = {"content_id": content_id, "network": "x", "text": "First words"}
    assert (await h.client.post("/api/v1/shares", json=body, headers=keyed(h.issuer, key))).status_code == 202
    for changed in ({"text": "Other words"}, {"network": "linkedin"}):
        reused = await h.client.post("/api/v1/shares", json={**body, **changed}, headers=keyed(h.issuer, key))
        assert reused.status_code == 422, reused.text
        error = reused.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["details"][0]["loc"] == ["header", "Idempotency-Key"]
        assert "conflicting_id" not in error
    assert len(await my_shares(h, content_id)) == 2  # telegram's and the first x share


async def test_a_malformed_key_is_refused(harness: Harness) -> None:
    for key in ("", "a" * 256, "with space", "caffè"):
        body = {"content_id": str(uuid.uuid4()), "network": "x", "text": "hi"}
        headers: dict[str, str | bytes] = {**employee(harness.issuer), "Idempotency-Key": key.encode()}
        response = await harness.client.post("/api/v1/shares", json=body, headers=headers)
        assert response.status_code == 422, (key, response.text)
        assert response.json()["error"]["details"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_concurrent_requests_with_one_key_make_one_share(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "Double click"}
    responses = await asyncio.gather(
        *(h.client.post("/api/v1/shares", json=body, headers=keyed(h.issuer, "same-key")) for _ in range(6))
    )
    assert [r.status_code for r in responses] == [202] * 6, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len([s for s in await my_shares(h, content_id) if s["network"] == "x"]) == 1


async def test_concurrent_requests_with_one_key_for_different_posts_make_one_share(harness: Harness) -> None:
    """Different posts do not wait for each other; the unique key alone keeps them to one share."""
    h = harness
    content_id = await known_content(h)
    networks = ["x", "linkedin", "facebook", "threads", "bluesky", "reddit"]
    responses = await asyncio.gather(
        *(
            h.client.post(
                "/api/v1/shares",
                json={"content_id": content_id, "network": network, "text": "Racing"},
                headers=keyed(h.issuer, "one-key"),
            )
            for network in networks
        )
    )
    created = [r for r in responses if r.status_code == 202]
    assert len(created) == 1, [r.text for r in responses]
    refused = [r for r in responses if r.status_code != 202]
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {(422, "idempotency_key_reused")}
    assert len(await my_shares(h, content_id)) == 2  # telegram's and the winner


async def test_concurrent_requests_without_a_key_make_one_share_and_conflicts(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "Double click"}
    responses = await asyncio.gather(
        *(h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer)) for _ in range(6))
    )
    created = [r for r in responses if r.status_code == 202]
    assert len(created) == 1, [r.text for r in responses]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(conflicts) == 5
    assert {r.json()["error"]["conflicting_id"] for r in conflicts} == {created[0].json()["id"]}


async def test_a_second_share_of_the_same_post_names_the_first(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "First"}
    first = (await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer))).json()

    def is_duplicate_of(response: httpx.Response, share_id: str) -> None:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "duplicate_share"
        assert error["conflicting_id"] == share_id
        assert error["request_id"] == response.headers["x-request-id"]

    # Pending, then awaiting review, then published: each blocks a second share (other words included).
    second = {**body, "text": "Second thoughts"}
    is_duplicate_of(await h.client.post("/api/v1/shares", json=second, headers=employee(h.issuer)), first["id"])
    await decide(h, first["id"], DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW)
    await share_when(h, first["id"], "needs_review")
    is_duplicate_of(await h.client.post("/api/v1/shares", json=second, headers=employee(h.issuer)), first["id"])

    # Another network, another member, another org's item: not the same post.
    other_network = await h.client.post(
        "/api/v1/shares", json={**body, "network": "linkedin"}, headers=employee(h.issuer)
    )
    assert other_network.status_code == 202, other_network.text
    colleague = await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer, "emp-2"))
    assert colleague.status_code == 202, colleague.text
    # A new key is the client saying "a new share on purpose".
    on_purpose = await h.client.post("/api/v1/shares", json=second, headers=keyed(h.issuer, "deliberate"))
    assert on_purpose.status_code == 202, on_purpose.text


async def test_a_published_share_blocks_a_duplicate_only_within_the_window(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "Worth sharing"}
    first = (await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer))).json()
    await decide(h, first["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    await share_when(h, first["id"], "published")
    blocked = await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer))
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["error"]["conflicting_id"] == first["id"]

    runtime = h.client._transport.app.state.runtime  # type: ignore[attr-defined]
    hours = runtime.settings.DUPLICATE_SHARE_WINDOW_HOURS
    assert hours == 24, "the default window"
    # Published a minute more than the window ago.
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            text("UPDATE shares SET updated_at = now() - make_interval(hours => :h, mins => 1) WHERE id = :id"),
            {"h": int(hours), "id": uuid.UUID(first["id"])},
        )
    again = await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer))
    assert again.status_code == 202, again.text
    assert again.json()["id"] != first["id"]


async def test_a_rejected_share_does_not_block_a_new_one(harness: Harness) -> None:
    h = harness
    content_id = await known_content(h)
    body = {"content_id": content_id, "network": "x", "text": "x" * 300}
    first = (await h.client.post("/api/v1/shares", json=body, headers=employee(h.issuer))).json()
    reason = Violation(code="too_long", message="too long")
    await decide(h, first["id"], DecisionOutcome.DECISION_OUTCOME_REJECTED, [reason])
    await share_when(h, first["id"], "rejected")
    fixed = await h.client.post("/api/v1/shares", json={**body, "text": "Shorter"}, headers=employee(h.issuer))
    assert fixed.status_code == 202, fixed.text
    assert fixed.json()["id"] != first["id"]


# --- an unknown tracking link, to a browser and to a program ------------------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", True),
        ("text/html", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("text/*, application/json;q=0.5", True),
        ("application/json", False),
        ("*/*", False),  # curl, httpx
        ("", False),
        ("text/html;q=0, */*", False),
        ("application/json, text/html", False),  # a tie goes to JSON
        ("text/html;q=bogus, application/json;q=0.1", False),
        ("application/*;q=0.9, text/html;q=0.8", False),
    ],
)
def test_a_browser_is_told_from_a_program_by_accept(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


async def test_an_unknown_link_answers_a_page_to_a_browser_and_json_otherwise(harness: Harness) -> None:
    browser = {**BROWSER, "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in ("/r/unknown1", "/r/not%20a%20code"):
        for headers, html in ((browser, True), (BROWSER, False), ({"Accept": "application/json"}, False)):
            response = await harness.client.get(path, headers=headers)
            assert response.status_code == 404
            request_id = response.headers["x-request-id"]
            assert response.headers["vary"] == "accept"
            if html:
                assert response.headers["content-type"] == "text/html; charset=utf-8"
                assert "<title>Link not found</title>" in response.text
                assert request_id in response.text
            else:
                assert response.headers["content-type"] == "application/json"
                error = response.json()["error"]
                assert (error["code"], error["request_id"]) == ("not_found", request_id)


async def test_a_share_in_review_can_still_be_rejected_but_not_approved_by_a_late_decision(harness: Harness) -> None:
    """Policy rejects a share waiting for a reviewer when its author is deactivated (issue 6)."""
    h = harness
    content_id = await known_content(h)
    in_review = (
        await h.client.post(
            "/api/v1/shares",
            json={"content_id": content_id, "network": "x", "text": "Review me"},
            headers=employee(h.issuer),
        )
    ).json()
    await decide(h, in_review["id"], DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW)
    await share_when(h, in_review["id"], "needs_review")
    await decide(
        h,
        in_review["id"],
        DecisionOutcome.DECISION_OUTCOME_REJECTED,
        [Violation(code="member_deactivated", message="You are no longer part of the program.")],
    )
    rejected = await share_when(h, in_review["id"], "rejected")
    assert [v["code"] for v in rejected["violations"]] == ["member_deactivated"]
    await decide(h, in_review["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    await asyncio.sleep(0.5)
    assert (await share_when(h, in_review["id"], "rejected"))["tracking_url"] is None


async def test_the_kill_switch_deletes_connections_and_refuses_the_token(harness: Harness) -> None:
    h = harness
    leaver = employee(h.issuer, "emp-leaver")
    connected = await h.client.post(
        "/api/v1/connections", json={"network": "x", "handle": "leaver", "audience_size": 10}, headers=leaver
    )
    assert connected.status_code == 201, connected.text
    await h.publish(
        "policy", MemberDeactivated(member_id=str(uuid.uuid4()), subject="emp-leaver"), org=ORG, aggregate="m1"
    )
    refused = await poll(lambda: h.client.get("/api/v1/connections", headers=leaver), lambda r: r.status_code == 403)
    assert refused.json()["error"]["code"] == "member_deactivated"
    runtime = h.client._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.read() as session:
        left = await session.scalar(text("SELECT count(*) FROM social_connections WHERE member_id = 'emp-leaver'"))
    assert left == 0
    # A colleague is untouched.
    assert (await h.client.get("/api/v1/connections", headers=employee(h.issuer, "emp-2"))).status_code == 200

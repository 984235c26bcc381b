"""Employee suggestions over REST: suggest, the curators' queue, accept into a draft crediting the
suggester, decline with a reason the suggester reads, and the events metrics will credit."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from condividi.contracts.content_pb2 import SuggestionAccepted, SuggestionDeclined, SuggestionSubmitted
from condividi.events import open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.settings import ContentSettings
from services.content.suggestions import url_key

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()
PAGE = {"url": "https://Acme.example/blog/robots/", "note": "Our robots made the news"}


@pytest.fixture
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    settings = ContentSettings(**service_env(infra, issuer, "content", infra.new_database("content")))
    async with running(build_app(settings)) as c:
        yield c


def curator(issuer: Issuer, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")


def employee(issuer: Issuer, subject: str = "employee-1", org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=subject)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Acme.example/blog/", "https://acme.example/blog"),
        ("HTTPS://acme.example:443/blog#top", "https://acme.example/blog"),
        ("http://acme.example:8080/a?id=4", "http://acme.example:8080/a?id=4"),
        ("https://acme.example/a?id=4", "https://acme.example/a?id=4"),
    ],
)
def test_url_key_compares_what_names_the_same_page(url: str, key: str) -> None:
    assert url_key(url) == key


async def test_suggest_queue_accept_and_decline(client: httpx.AsyncClient, issuer: Issuer) -> None:
    made = await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer))
    assert made.status_code == 201, made.text
    first = made.json()
    assert (first["status"], first["suggested_by"], first["content_id"]) == ("pending", "employee-1", None)
    second = (
        await client.post(
            "/api/v1/suggestions",
            json={"url": "https://acme.example/careers", "note": "We are hiring"},
            headers=employee(issuer, "employee-2"),
        )
    ).json()

    queue = (await client.get("/api/v1/suggestions", params={"status": "pending"}, headers=curator(issuer))).json()
    assert [s["id"] for s in queue["items"]] == [first["id"], second["id"]]  # oldest first

    accepted = await client.post(
        f"/api/v1/suggestions/{first['id']}/accept", json={"title": "Robots in the news"}, headers=curator(issuer)
    )
    assert accepted.status_code == 200, accepted.text
    item_id = accepted.json()["content_id"]
    assert accepted.json()["status"] == "accepted"
    item = (await client.get(f"/api/v1/content-items/{item_id}", headers=curator(issuer))).json()
    assert (item["status"], item["title"], item["url"], item["suggested_by"]) == (
        "draft",
        "Robots in the news",
        "https://acme.example/blog/robots/",
        "employee-1",
    )

    declined = await client.post(
        f"/api/v1/suggestions/{second['id']}/decline", json={"reason": "  Not public yet "}, headers=curator(issuer)
    )
    assert declined.status_code == 200, declined.text
    mine = (await client.get("/api/v1/suggestions/mine", headers=employee(issuer, "employee-2"))).json()["items"]
    assert [(s["id"], s["status"], s["decline_reason"]) for s in mine] == [(second["id"], "declined", "Not public yet")]
    pending = (await client.get("/api/v1/suggestions", params={"status": "pending"}, headers=curator(issuer))).json()
    assert pending["items"] == []
    everything = (await client.get("/api/v1/suggestions", params={"limit": 1}, headers=curator(issuer))).json()
    assert len(everything["items"]) == 1 and everything["next_cursor"]

    # Decided is decided.
    for verb, body in (("accept", {}), ("decline", {"reason": "no"})):
        again = await client.post(f"/api/v1/suggestions/{second['id']}/{verb}", json=body, headers=curator(issuer))
        assert again.status_code == 409, verb
        assert again.json()["error"]["code"] == "conflict"


async def test_accept_without_a_title_names_the_draft_after_the_page(client: httpx.AsyncClient, issuer: Issuer) -> None:
    made = (await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer))).json()
    accepted = (await client.post(f"/api/v1/suggestions/{made['id']}/accept", json={}, headers=curator(issuer))).json()
    item = (await client.get(f"/api/v1/content-items/{accepted['content_id']}", headers=curator(issuer))).json()
    assert item["title"] == "acme.example/blog/robots"
    assert item["summary"] == PAGE["note"]


async def test_a_page_already_waiting_answers_409_naming_the_suggestion(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    first = (await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer))).json()
    same_page = {"url": "https://acme.example/blog/robots#comments", "note": "Look!"}
    again = await client.post("/api/v1/suggestions", json=same_page, headers=employee(issuer, "employee-2"))
    assert again.status_code == 409
    assert again.json()["error"]["conflicting_id"] == first["id"]
    # Another org may suggest the same page; once decided, the page may be suggested again.
    assert (
        await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer, org=OTHER_ORG))
    ).status_code == 201
    await client.post(f"/api/v1/suggestions/{first['id']}/decline", json={"reason": "old"}, headers=curator(issuer))
    assert (await client.post("/api/v1/suggestions", json=same_page, headers=employee(issuer))).status_code == 201


async def test_who_sees_and_decides_suggestions(client: httpx.AsyncClient, issuer: Issuer) -> None:
    made = (await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer))).json()
    path = f"/api/v1/suggestions/{made['id']}"
    assert (await client.get(path, headers=employee(issuer))).status_code == 200
    assert (await client.get(path, headers=curator(issuer))).status_code == 200
    # Another member's suggestion and another org's answer like a missing one.
    assert (await client.get(path, headers=employee(issuer, "employee-2"))).status_code == 404
    assert (await client.get(path, headers=curator(issuer, OTHER_ORG))).status_code == 404
    for verb, body in (("accept", {}), ("decline", {"reason": "no"})):
        refused = await client.post(f"{path}/{verb}", json=body, headers=employee(issuer))
        assert refused.status_code == 403, verb
        other = await client.post(f"{path}/{verb}", json=body, headers=curator(issuer, OTHER_ORG))
        assert other.status_code == 404, verb
        missing = await client.post(f"/api/v1/suggestions/{uuid.uuid4()}/{verb}", json=body, headers=curator(issuer))
        assert missing.status_code == 404, verb
    assert (await client.get("/api/v1/suggestions", headers=employee(issuer))).status_code == 403
    assert (await client.get("/api/v1/suggestions", headers=curator(issuer, OTHER_ORG))).json()["items"] == []
    assert (await client.get(path, headers=curator(issuer))).json()["status"] == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "https://acme.example"},
        {"note": "no url"},
        {"url": "not a url", "note": "n"},
        {"url": "javascript:alert(1)", "note": "n"},
        {"url": "ftp://acme.example/f", "note": "n"},
        {"url": "https://acme.example/" + "a" * 2048, "note": "n"},
        {"url": "https://acme.example", "note": "   "},
        {"url": "https://acme.example", "note": "x" * 2001},
        {"url": "https://acme.example", "note": "nul\x00"},
    ],
)
async def test_bad_suggestions_answer_422(client: httpx.AsyncClient, issuer: Issuer, body: dict[str, str]) -> None:
    response = await client.post("/api/v1/suggestions", json=body, headers=employee(issuer))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert (await client.get("/api/v1/suggestions/mine", headers=employee(issuer))).json()["items"] == []


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("accept", {"title": "   "}),
        ("accept", {"title": "two\nlines"}),
        ("accept", {"title": "t" * 301}),
        ("decline", {}),
        ("decline", {"reason": "  "}),
        ("decline", {"reason": "r" * 1001}),
    ],
)
async def test_bad_decisions_answer_422_and_leave_the_suggestion_pending(
    client: httpx.AsyncClient, issuer: Issuer, verb: str, body: dict[str, str]
) -> None:
    made = (await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer))).json()
    response = await client.post(f"/api/v1/suggestions/{made['id']}/{verb}", json=body, headers=curator(issuer))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert (await client.get(f"/api/v1/suggestions/{made['id']}", headers=curator(issuer))).json()[
        "status"
    ] == "pending"


async def test_each_step_is_an_event_crediting_the_suggester(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    first = (await client.post("/api/v1/suggestions", json=PAGE, headers=employee(issuer, "events-1"))).json()
    other = {"url": "https://acme.example/events/other", "note": "Another"}
    second = (await client.post("/api/v1/suggestions", json=other, headers=employee(issuer, "events-2"))).json()
    accepted = (await client.post(f"/api/v1/suggestions/{first['id']}/accept", json={}, headers=curator(issuer))).json()
    await client.post(f"/api/v1/suggestions/{second['id']}/decline", json={"reason": "Old"}, headers=curator(issuer))

    wanted = {first["id"], second["id"]}
    seen: dict[str, list[Any]] = {}
    consumer = AIOKafkaConsumer(
        "condividi.content", bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        for _ in range(60):
            for record in (r for rs in (await consumer.getmany(timeout_ms=250)).values() for r in rs):
                envelope = parse_envelope(record.value)
                for kind in (SuggestionSubmitted, SuggestionAccepted, SuggestionDeclined):
                    if envelope.type == kind.DESCRIPTOR.full_name:
                        event = open_envelope(envelope, kind).payload
                        if event.suggestion_id in wanted:
                            seen.setdefault(kind.__name__, []).append(event)
            if (
                len(seen.get("SuggestionSubmitted", [])) == 2
                and "SuggestionAccepted" in seen
                and "SuggestionDeclined" in seen
            ):
                break
    finally:
        await consumer.stop()
    submitted = {e.suggestion_id: e for e in seen["SuggestionSubmitted"]}
    assert submitted[first["id"]].suggested_by == "events-1"
    assert submitted[first["id"]].url == "https://acme.example/blog/robots/"
    [accept] = seen["SuggestionAccepted"]
    assert (accept.suggestion_id, accept.content_id, accept.suggested_by, accept.accepted_by) == (
        first["id"],
        accepted["content_id"],
        "events-1",
        "curator-1",
    )
    [decline] = seen["SuggestionDeclined"]
    assert (decline.suggested_by, decline.declined_by, decline.reason) == ("events-2", "curator-1", "Old")

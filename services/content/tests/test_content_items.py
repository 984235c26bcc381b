import base64
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from condividi.contracts.content_pb2 import ContentPublished
from condividi.events import open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.settings import ContentSettings

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()


@pytest.fixture
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    settings = ContentSettings(**service_env(infra, issuer, "content", infra.new_database("content")))
    async with running(build_app(settings)) as c:
        yield c


def curator(issuer: Issuer, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")


def employee(issuer: Issuer, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-1")


ITEM = {"title": "Our new plant", "url": "https://acme.example/news/plant", "suggested_caption": "Proud!"}


async def test_publish_content_item_shows_in_feed_and_emits_event(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    created = await client.post("/api/v1/content-items", json=ITEM, headers=curator(issuer))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    assert created.json()["status"] == "draft"

    feed = await client.get("/api/v1/feed", headers=employee(issuer))
    assert feed.json()["items"] == []

    published = await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator(issuer))
    assert published.status_code == 200
    assert published.json()["status"] == "published"

    feed = await client.get("/api/v1/feed", headers=employee(issuer))
    assert [i["id"] for i in feed.json()["items"]] == [item_id]

    consumer = AIOKafkaConsumer(
        "condividi.content",
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        found = None
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=250)
            for record in (r for rs in batch.values() for r in rs):
                envelope = parse_envelope(record.value)
                if envelope.aggregate_id == item_id:
                    found = open_envelope(envelope, ContentPublished)
            if found:
                break
    finally:
        await consumer.stop()
    assert found is not None, "ContentPublished was not relayed to Kafka"
    assert found.org_id == ORG
    assert found.payload.url == ITEM["url"]
    assert found.producer == "content"


async def test_publish_twice_answers_conflict(client: httpx.AsyncClient, issuer: Issuer) -> None:
    item_id = (await client.post("/api/v1/content-items", json=ITEM, headers=curator(issuer))).json()["id"]
    assert (await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator(issuer))).status_code == 200
    again = await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator(issuer))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_item_of_another_org_answers_not_found(client: httpx.AsyncClient, issuer: Issuer) -> None:
    item_id = (await client.post("/api/v1/content-items", json=ITEM, headers=curator(issuer))).json()["id"]
    for method, path in (
        ("GET", f"/api/v1/content-items/{item_id}"),
        ("POST", f"/api/v1/content-items/{item_id}/publish"),
    ):
        response = await client.request(method, path, headers=curator(issuer, OTHER_ORG))
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


async def test_employee_cannot_create_content(client: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await client.post("/api/v1/content-items", json=ITEM, headers=employee(issuer))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "", "url": "https://acme.example"},
        {"title": "x", "url": "javascript:alert(1)"},
        {"title": "x", "url": "not a url"},
        {"title": "x" * 301, "url": "https://acme.example"},
        {"title": "   ", "url": "https://acme.example"},
        {"title": "nul\x00byte", "url": "https://acme.example"},
        {"title": "two\nlines", "url": "https://acme.example"},
        {"title": "ok", "url": "https://acme.example", "summary": "nul\x00byte"},
    ],
)
async def test_create_content_item_rejects_bad_input(
    client: httpx.AsyncClient, issuer: Issuer, body: dict[str, str]
) -> None:
    response = await client.post("/api/v1/content-items", json=body, headers=curator(issuer))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]


async def test_feed_paginates_with_cursor(client: httpx.AsyncClient, issuer: Issuer) -> None:
    ids = []
    for n in range(5):
        item_id = (
            await client.post("/api/v1/content-items", json={**ITEM, "title": f"t{n}"}, headers=curator(issuer))
        ).json()["id"]
        await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator(issuer))
        ids.append(item_id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/feed", params=params, headers=employee(issuer))).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    forged = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", 5]).encode()).decode()
    # A date that exists in Python but not in UTC, where the database compares it.
    out_of_range = base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", ids[0]]).encode()).decode()
    for cursor in ("garbage!", forged, out_of_range):
        bad = await client.get("/api/v1/feed", params={"cursor": cursor}, headers=employee(issuer))
        assert bad.status_code == 400, cursor
        assert bad.json()["error"]["code"] == "invalid_cursor"

"""The curators' library over REST on the real stack (PostgreSQL): each route, each bad input, the
events each change writes, and the scheduler publishing and expiring on time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from condividi.contracts.content_pb2 import ContentPublished, ContentWithdrawn
from condividi.db import Database, utcnow
from condividi.events import open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content import scheduler
from services.content.main import build_app
from services.content.settings import ContentSettings

OTHER_ORG = uuid.uuid4()
pytestmark = pytest.mark.asyncio(loop_scope="module")
ITEM = {"title": "Our new plant", "url": "https://acme.example/news/plant", "suggested_caption": "Proud!"}


@dataclass
class Content:
    http: httpx.AsyncClient
    db: Database
    org: uuid.UUID  # each test's own org: the service is shared by the module

    async def events(self, item_id: str) -> list[Message]:
        """What the item's changes wrote to the outbox, in order."""
        rows = await self.db.fetch("SELECT envelope FROM outbox WHERE key = $1 ORDER BY id", item_id)
        opened = []
        for row in rows:
            envelope = parse_envelope(row["envelope"])
            kind = ContentPublished if envelope.type.endswith("ContentPublished") else ContentWithdrawn
            opened.append(open_envelope(envelope, kind).payload)
        return opened

    async def row(self, item_id: str) -> dict[str, Any]:
        [row] = await self.db.fetch("SELECT * FROM content_items WHERE id = $1", uuid.UUID(item_id))
        return dict(row)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(infra: Infra, issuer: Issuer) -> AsyncIterator[Content]:
    url = infra.new_database("content")
    env = service_env(infra, issuer, "content", url)
    # The scheduler looks often, so that a scheduled item appears a moment after its time.
    settings = ContentSettings(**env, SCHEDULER_INTERVAL_SECONDS=0.2)
    db = Database(url, producer="content")
    async with running(build_app(settings)) as c:
        yield Content(c, db, uuid.uuid4())
    await db.dispose()


@pytest.fixture
def content(service: Content) -> Content:
    return Content(service.http, service.db, uuid.uuid4())


def curator(issuer: Issuer, org: uuid.UUID) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")


def admin(issuer: Issuer, org: uuid.UUID) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.ADMIN], subject="admin-1")


def employee(issuer: Issuer, org: uuid.UUID) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-1")


def later(**delta: float) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


async def create(content: Content, issuer: Issuer, **fields: Any) -> dict[str, Any]:
    response = await content.http.post(
        "/api/v1/content-items", json={**ITEM, **fields}, headers=curator(issuer, content.org)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(content: Content, issuer: Issuer, item_id: str, verb: str, body: Any = None) -> httpx.Response:
    return await content.http.post(
        f"/api/v1/content-items/{item_id}/{verb}", json=body, headers=curator(issuer, content.org)
    )


async def test_create_with_every_field(content: Content, issuer: Issuer) -> None:
    expires = later(days=7)
    item = await create(
        content,
        issuer,
        summary="Solar powered",
        topics=[" Energy ", "plants", "energy"],
        image_url="https://acme.example/plant.png",
        image_alt="The plant's roof covered in solar panels",
        expires_at=expires,
        pin={"position": 1, "pinned_until": later(days=2)},
    )
    assert item["status"] == "draft" and item["revision"] == 0
    assert item["topics"] == ["energy", "plants"]
    assert item["image_url"] == "https://acme.example/plant.png" and item["image_alt"].startswith("The plant")
    assert datetime.fromisoformat(item["expires_at"]) == datetime.fromisoformat(expires)
    assert item["pinned_position"] == 1 and item["pinned_until"]
    assert item["utm_campaign"] == "" and item["campaign_id"] is None
    assert await content.events(item["id"]) == []  # a draft is nobody's business yet


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"url": "not a url"}, "url"),
    ({"url": "ftp://acme.example/a"}, "url"),
    ({"title": "x" * 301}, "title"),
    ({"summary": "x" * 2001}, "summary"),
    ({"suggested_caption": "x" * 3001}, "suggested_caption"),
    ({"topics": ["x" * 51]}, "topics"),
    ({"topics": [f"t{n}" for n in range(21)]}, "topics"),
    ({"topics": ["two\nlines"]}, "topics"),
    ({"image_url": "https://acme.example/i.png"}, "image_alt"),
    ({"image_url": "https://acme.example/i.png", "image_alt": "   "}, "image_alt"),
    ({"image_url": "javascript:alert(1)", "image_alt": "x"}, "image_url"),
    ({"image_url": "https://acme.example/i.png", "image_alt": "x" * 501}, "image_alt"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no offset
    ({"pin": {"position": 0}}, "position"),
    ({"pin": {"position": 1, "pinned_until": "2020-01-01T00:00:00Z"}}, "pinned_until"),
]


@pytest.mark.parametrize(("fields", "where"), BAD_CREATES)
async def test_create_rejects_bad_input_and_changes_nothing(
    content: Content, issuer: Issuer, fields: dict[str, Any], where: str
) -> None:
    response = await content.http.post(
        "/api/v1/content-items", json={**ITEM, **fields}, headers=curator(issuer, content.org)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert where in str(error["details"]) or where in error["message"], error
    assert await content.db.fetch("SELECT id FROM content_items WHERE org_id = $1", content.org) == []


async def test_a_fifty_megabyte_title_is_refused_before_it_is_read(content: Content, issuer: Issuer) -> None:
    response = await content.http.post(
        "/api/v1/content-items", json={**ITEM, "title": "x" * 50_000_000}, headers=curator(issuer, content.org)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_editing_a_draft_changes_it_in_place(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer)
    edited = await content.http.patch(
        f"/api/v1/content-items/{item['id']}",
        json={"title": "  Our solar plant ", "topics": ["Energy"], "expires_at": later(days=3)},
        headers=curator(issuer, content.org),
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["title"], body["topics"], body["status"], body["revision"]) == (
        "Our solar plant",
        ["energy"],
        "draft",
        0,
    )
    cleared = await content.http.patch(
        f"/api/v1/content-items/{item['id']}", json={"expires_at": None}, headers=curator(issuer, content.org)
    )
    assert cleared.json()["expires_at"] is None
    assert await content.events(item["id"]) == []
    assert await content.db.fetch("SELECT 1 FROM content_revisions WHERE org_id = $1", content.org) == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"url": "not a url"}, "url"),
        ({"image_url": "https://acme.example/i.png"}, "image_alt"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"summary": "nul\x00"}, "summary"),
    ],
)
async def test_edit_rejects_bad_input_and_changes_nothing(
    content: Content, issuer: Issuer, body: dict[str, Any], where: str
) -> None:
    item = await create(content, issuer)
    before = await content.row(item["id"])
    response = await content.http.patch(
        f"/api/v1/content-items/{item['id']}", json=body, headers=curator(issuer, content.org)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert where in str(response.json()["error"]), response.text
    assert await content.row(item["id"]) == before


async def test_editing_a_published_item_publishes_a_new_revision(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer, topics=["energy"])
    published = await act(content, issuer, item["id"], "publish")
    assert published.json()["revision"] == 1
    edited = await content.http.patch(
        f"/api/v1/content-items/{item['id']}",
        json={"url": "https://acme.example/news/plant-v2", "title": "Our plant, one year on"},
        headers=curator(issuer, content.org),
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["revision"], edited.json()["status"]) == (2, "published")
    # Sending what is already there is no edit: no revision, no event.
    again = await content.http.patch(
        f"/api/v1/content-items/{item['id']}",
        json={"title": "Our plant, one year on"},
        headers=curator(issuer, content.org),
    )
    assert again.json()["revision"] == 2

    events = await content.events(item["id"])
    assert [(type(e).__name__, getattr(e, "revision", None)) for e in events] == [
        ("ContentPublished", 1),
        ("ContentPublished", 2),
    ]
    latest = events[-1]
    assert isinstance(latest, ContentPublished)
    assert (latest.url, latest.title, list(latest.topics)) == (
        "https://acme.example/news/plant-v2",
        "Our plant, one year on",
        ["energy"],
    )
    assert latest.utm_campaign == "condividi" and latest.published_by == "curator-1"

    revisions = await content.http.get(
        f"/api/v1/content-items/{item['id']}/revisions", headers=curator(issuer, content.org)
    )
    assert [(r["revision"], r["url"]) for r in revisions.json()] == [
        (2, "https://acme.example/news/plant-v2"),
        (1, "https://acme.example/news/plant"),
    ]
    feed = (await content.http.get("/api/v1/feed", headers=employee(issuer, content.org))).json()
    assert [(i["id"], i["title"]) for i in feed["items"]] == [(item["id"], "Our plant, one year on")]


async def test_publishing_carries_the_campaign(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer)
    campaign = uuid.uuid4()
    now = utcnow()
    await content.db.fetch(
        "INSERT INTO campaigns (id, org_id, name, utm_campaign, required_disclosure, created_by, created_at, "
        "updated_at, target_roles) VALUES ($1, $2, 'Spring', 'spring-27', '#ad', 'c', $3, $3, '{employee}')",
        campaign,
        content.org,
        now,
    )
    await content.db.fetch(
        "UPDATE content_items SET campaign_id = $1, target_languages = '{it}' WHERE id = $2",
        campaign,
        uuid.UUID(item["id"]),
    )
    published = (await act(content, issuer, item["id"], "publish")).json()
    assert (published["utm_campaign"], published["required_disclosure"]) == ("spring-27", "#ad")
    [event] = await content.events(item["id"])
    assert isinstance(event, ContentPublished)
    assert (event.campaign_id, event.utm_campaign, event.required_disclosure) == (str(campaign), "spring-27", "#ad")
    assert list(event.target_languages) == ["it"] and list(event.campaign_target_roles) == ["employee"]
    listed = await content.http.get(
        "/api/v1/content-items", params={"campaign_id": str(campaign)}, headers=curator(issuer, content.org)
    )
    assert [i["id"] for i in listed.json()["items"]] == [item["id"]]
    other = await content.http.get(
        "/api/v1/content-items", params={"campaign_id": str(uuid.uuid4())}, headers=curator(issuer, content.org)
    )
    assert other.json()["items"] == []


async def test_list_and_search(content: Content, issuer: Issuer) -> None:
    solar = await create(content, issuer, title="Solar plant opens", topics=["energy"])
    hiring = await create(content, issuer, title="We are hiring in Milan", summary="Engineers wanted", topics=["jobs"])
    wind = await create(content, issuer, title="Wind farm", suggested_caption="Clean solar and wind power")
    await act(content, issuer, hiring["id"], "publish")
    by_admin = await content.http.post(
        "/api/v1/content-items", json={**ITEM, "title": "Admin's note"}, headers=admin(issuer, content.org)
    )
    assert by_admin.status_code == 201

    async def ids(**params: Any) -> list[str]:
        response = await content.http.get("/api/v1/content-items", params=params, headers=curator(issuer, content.org))
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids() == [by_admin.json()["id"], wind["id"], hiring["id"], solar["id"]]
    assert await ids(status="published") == [hiring["id"]]
    assert await ids(status=["draft", "published"], topic="Energy") == [solar["id"]]
    assert await ids(author="admin-1") == [by_admin.json()["id"]]
    assert await ids(q="solar") == [wind["id"], solar["id"]]
    assert await ids(q="engineers milan") == [hiring["id"]]
    assert await ids(q="solar -wind") == [solar["id"]]
    assert await ids(q="nothing-like-this") == []

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (
            await content.http.get("/api/v1/content-items", params=params, headers=curator(issuer, content.org))
        ).json()
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == await ids()

    for params in ({"status": "nope"}, {"limit": 0}, {"q": "x" * 201}, {"campaign_id": "nope"}, {"q": "a\x00b"}):
        bad = await content.http.get("/api/v1/content-items", params=params, headers=curator(issuer, content.org))
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"]["code"] == "validation_failed"
    forged = await content.http.get(
        "/api/v1/content-items", params={"cursor": "forged"}, headers=curator(issuer, content.org)
    )
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_cursor"
    # The other org's library is its own.
    theirs = await content.http.get("/api/v1/content-items", headers=curator(issuer, OTHER_ORG))
    assert theirs.json()["items"] == []


async def test_the_search_uses_its_index(content: Content, issuer: Issuer) -> None:
    await create(content, issuer)
    await content.db.fetch("ANALYZE content_items")
    from services.content.models import SEARCH_DOCUMENT

    async with content.db.engine.connect() as connection:
        await connection.exec_driver_sql("SET enable_seqscan = off")
        plan = await connection.exec_driver_sql(
            f"EXPLAIN SELECT id FROM content_items WHERE {SEARCH_DOCUMENT} @@ websearch_to_tsquery('simple', 'x')"
        )
        text = "\n".join(r[0] for r in plan)
    assert "content_items_search" in text, text


async def test_lifecycle_over_rest(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer)
    path = f"/api/v1/content-items/{item['id']}"

    unpublish_draft = await act(content, issuer, item["id"], "unpublish")
    assert unpublish_draft.status_code == 409
    assert "draft" in unpublish_draft.json()["error"]["message"]

    assert (await act(content, issuer, item["id"], "publish")).json()["status"] == "published"
    refused = await content.http.delete(path, headers=curator(issuer, content.org))
    assert refused.status_code == 409 and "only a draft" in refused.json()["error"]["message"]

    unpublished = await act(content, issuer, item["id"], "unpublish")
    assert unpublished.json()["status"] == "draft"
    assert (await content.http.get(path, headers=employee(issuer, content.org))).status_code == 404
    republished = await act(content, issuer, item["id"], "publish")
    assert (republished.json()["status"], republished.json()["revision"]) == ("published", 2)

    archived = await act(content, issuer, item["id"], "archive")
    assert archived.json()["status"] == "archived" and archived.json()["archived_at"]
    for verb in ("publish", "unpublish", "archive"):
        again = await act(content, issuer, item["id"], verb)
        assert again.status_code == 409 and "archived" in again.json()["error"]["message"], verb
    edit = await content.http.patch(path, json={"title": "x"}, headers=curator(issuer, content.org))
    assert edit.status_code == 409

    kinds = [
        (type(e).__name__, getattr(e, "reason", getattr(e, "revision", None))) for e in await content.events(item["id"])
    ]
    assert kinds == [
        ("ContentPublished", 1),
        ("ContentWithdrawn", "unpublished"),
        ("ContentPublished", 2),
        ("ContentWithdrawn", "archived"),
    ]

    draft = await create(content, issuer)
    assert (
        await content.http.delete(f"/api/v1/content-items/{draft['id']}", headers=curator(issuer, content.org))
    ).status_code == 204
    assert (
        await content.http.get(f"/api/v1/content-items/{draft['id']}", headers=curator(issuer, content.org))
    ).status_code == 404
    [withdrawn] = await content.events(draft["id"])
    assert isinstance(withdrawn, ContentWithdrawn) and withdrawn.reason == "deleted"


async def test_schedule_rules(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer, expires_at=later(hours=2))
    before = await content.row(item["id"])
    for body, message in (
        ({"publish_at": later(hours=-1)}, "publish_at is in the past"),
        ({"publish_at": later(hours=3)}, "expires_at is before the item is published"),
        ({"publish_at": "2030-01-01T00:00:00"}, "offset"),
        ({"publish_at": "tomorrow"}, "datetime"),
    ):
        response = await act(content, issuer, item["id"], "publish", body)
        assert response.status_code == 422, response.text
        assert message in str(response.json()["error"]), response.text
    assert await content.row(item["id"]) == before

    scheduled = await act(content, issuer, item["id"], "publish", {"publish_at": later(hours=1)})
    assert scheduled.json()["status"] == "scheduled" and scheduled.json()["publish_at"]
    assert (
        await content.http.get(f"/api/v1/content-items/{item['id']}", headers=employee(issuer, content.org))
    ).status_code == 404
    # Another time, then cancelled: back to a draft, nothing ever announced.
    assert (await act(content, issuer, item["id"], "publish", {"publish_at": later(minutes=30)})).status_code == 200
    assert (await act(content, issuer, item["id"], "unpublish")).json()["status"] == "draft"
    assert await content.events(item["id"]) == []
    expiring = await content.http.patch(
        f"/api/v1/content-items/{item['id']}",
        json={"expires_at": later(hours=-1)},
        headers=curator(issuer, content.org),
    )
    assert expiring.status_code == 422


async def until_not(read: Callable[[], Awaitable[str]], value: str) -> None:
    async with asyncio.timeout(10):
        while await read() == value:  # noqa: ASYNC110 - polling a service over HTTP, no event to wait on
            await asyncio.sleep(0.05)


async def test_a_scheduled_item_appears_on_time_and_expires(content: Content, issuer: Issuer) -> None:
    publish_at = utcnow() + timedelta(seconds=1.5)
    item = await create(content, issuer, expires_at=(publish_at + timedelta(seconds=1.5)).isoformat())
    assert (
        await act(content, issuer, item["id"], "publish", {"publish_at": publish_at.isoformat()})
    ).status_code == 200

    async def status() -> str:
        response = await content.http.get(f"/api/v1/content-items/{item['id']}", headers=curator(issuer, content.org))
        return str(response.json()["status"])

    async def feed() -> list[str]:
        return [
            i["id"]
            for i in (await content.http.get("/api/v1/feed", headers=employee(issuer, content.org))).json()["items"]
        ]

    assert await status() == "scheduled" and await feed() == []
    await until_not(status, "scheduled")
    appeared = utcnow()
    assert publish_at <= appeared < publish_at + timedelta(seconds=1), appeared - publish_at
    assert await feed() == [item["id"]]
    row = await content.row(item["id"])
    assert row["published_at"] >= publish_at and row["published_by"] == "curator-1"

    await until_not(status, "published")
    assert await status() == "expired"
    assert await feed() == []
    events = await content.events(item["id"])
    assert [type(e).__name__ for e in events] == ["ContentPublished", "ContentWithdrawn"]
    assert isinstance(events[1], ContentWithdrawn) and events[1].reason == "expired"
    # An expired item can still be read (sharing tells why it cannot be shared), not shared.
    seen = await content.http.get(f"/api/v1/content-items/{item['id']}", headers=employee(issuer, content.org))
    assert seen.json()["status"] == "expired"


async def test_two_schedulers_publish_an_item_once(content: Content, issuer: Issuer) -> None:
    items = [await create(content, issuer, title=f"Item {n}") for n in range(30)]
    due = utcnow() - timedelta(seconds=1)
    await content.db.fetch(
        "UPDATE content_items SET status = 'scheduled', publish_at = $1, published_by = 'curator-1' WHERE org_id = $2",
        due,
        content.org,
    )
    second = Database(content.db.engine.url.render_as_string(hide_password=False), producer="content")
    try:
        counts = await asyncio.gather(*(scheduler.publish_due(db) for db in (content.db, second, content.db, second)))
    finally:
        await second.dispose()
    # The app's own scheduler may have taken some too (SKIP LOCKED then made the four runs pass them by);
    # its transaction may still be committing, so the count is awaited. Whoever took an item took it alone.
    for _ in range(100):
        published = await content.db.fetch(
            "SELECT revision FROM content_items WHERE status = 'published' AND org_id = $1", content.org
        )
        if len(published) == len(items):
            break
        await asyncio.sleep(0.05)
    assert len(published) == len(items) and {r["revision"] for r in published} == {1}
    assert sum(counts) <= len(items)
    events = await content.db.fetch("SELECT key FROM outbox WHERE key = ANY($1::text[])", [i["id"] for i in items])
    assert sorted(r["key"] for r in events) == sorted(i["id"] for i in items)


async def test_pins_are_ordered(content: Content, issuer: Issuer) -> None:
    a, b, c = [await create(content, issuer, title=t) for t in ("A", "B", "C")]

    async def pin(item: dict[str, Any], **body: Any) -> httpx.Response:
        return await content.http.put(
            f"/api/v1/content-items/{item['id']}/pin", json=body, headers=curator(issuer, content.org)
        )

    async def order() -> list[tuple[str, int]]:
        listed = await content.http.get(
            "/api/v1/content-items", params={"pinned": "true"}, headers=curator(issuer, content.org)
        )
        pins = sorted(listed.json()["items"], key=lambda p: p["pinned_position"])
        return [(p["title"], p["pinned_position"]) for p in pins]

    assert (await pin(a, position=1)).json()["pinned_position"] == 1
    await pin(b, position=1)
    await pin(c, position=2, pinned_until=later(days=1))
    assert await order() == [("B", 1), ("C", 2), ("A", 3)]
    await pin(b, position=3)  # reorder
    assert await order() == [("C", 1), ("A", 2), ("B", 3)]
    unpinned = await content.http.delete(f"/api/v1/content-items/{c['id']}/pin", headers=curator(issuer, content.org))
    assert unpinned.json()["pinned_position"] is None
    assert await order() == [("A", 1), ("B", 2)]

    past = await pin(a, position=1, pinned_until=later(hours=-1))
    assert past.status_code == 422 and "pinned_until" in str(past.json()["error"]["details"])
    for body in ({"position": 0}, {"position": "top"}):
        assert (await pin(a, **body)).status_code == 422
    await act(content, issuer, a["id"], "archive")  # an archived item's pin is over
    assert await order() == [("B", 2)]
    assert (await pin(a)).status_code == 409
    await pin(c)
    assert await order() == [("C", 1), ("B", 2)]


async def test_only_curators_and_admins_edit_and_other_orgs_ids_are_unknown(content: Content, issuer: Issuer) -> None:
    item = await create(content, issuer)
    path = f"/api/v1/content-items/{item['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/content-items", None),
        ("PATCH", path, {"title": "x"}),
        ("DELETE", path, None),
        ("POST", f"{path}/publish", None),
        ("POST", f"{path}/unpublish", None),
        ("POST", f"{path}/archive", None),
        ("PUT", f"{path}/pin", {"position": 1}),
        ("DELETE", f"{path}/pin", None),
        ("GET", f"{path}/revisions", None),
    ]
    for method, url, body in calls:
        refused = await content.http.request(method, url, json=body, headers=employee(issuer, content.org))
        assert refused.status_code == 403, (method, url, refused.text)
        if "{" in url or url.startswith(path):
            theirs = await content.http.request(method, url, json=body, headers=curator(issuer, OTHER_ORG))
            assert theirs.status_code == 404, (method, url, theirs.text)
            assert theirs.json()["error"]["code"] == "not_found"
    row = await content.row(item["id"])
    assert (row["status"], row["title"], row["pinned_position"]) == ("draft", ITEM["title"], None)

"""Campaigns, audiences and the ranked feed, on the content service with its real database. The roster
and team copies and the shares table are filled as their consumers fill them (the events' way in is
proved end to end in tests/test_audience_end_to_end.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.settings import ContentSettings

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()
SALES, ENGINEERING = uuid.uuid4(), uuid.uuid4()


class Stack:
    def __init__(self, client: httpx.AsyncClient, database: asyncpg.Connection, issuer: Issuer) -> None:
        self.client = client
        self.db = database
        self.issuer = issuer

    def curator(self, org: uuid.UUID = ORG) -> dict[str, str]:
        return self.issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")

    def member(self, subject: str, roles: list[Role] | None = None, org: uuid.UUID = ORG) -> dict[str, str]:
        return self.issuer.headers(org=org, roles=roles or [Role.EMPLOYEE], subject=subject)

    async def on_roster(
        self,
        subject: str,
        teams: list[uuid.UUID] = (),  # type: ignore[assignment]
        location: str | None = None,
        language: str | None = None,
        roles: list[str] | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO roster_copy (org_id, subject, roles, active, updated_at, team_ids, location, language)"
            " VALUES ($1, $2, $3, true, now(), $4, $5, $6) ON CONFLICT (org_id, subject) DO UPDATE"
            " SET team_ids = $4, location = $5, language = $6, roles = $3",
            ORG,
            subject,
            roles or ["employee"],
            list(teams),
            location,
            language,
        )

    async def publish(self, title: str, **after: Any) -> str:
        created = await self.client.post(
            "/api/v1/content-items",
            json={"title": title, "url": f"https://acme.example/{uuid.uuid4().hex}"},
            headers=self.curator(),
        )
        assert created.status_code == 201, created.text
        item_id = str(created.json()["id"])
        published = await self.client.post(f"/api/v1/content-items/{item_id}/publish", headers=self.curator())
        assert published.status_code == 200, published.text
        if after:
            # Pins, topics, expiry and the publication time are the library's to set; here, directly.
            columns = ", ".join(f"{name} = ${n}" for n, name in enumerate(after, start=2))
            await self.db.execute(
                f"UPDATE content_items SET {columns} WHERE id = $1", uuid.UUID(item_id), *after.values()
            )
        return item_id

    async def campaign(self, name: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/campaigns", json={"name": name, **fields}, headers=self.curator())
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def add(self, campaign_id: str, item_id: str) -> None:
        response = await self.client.put(f"/api/v1/campaigns/{campaign_id}/items/{item_id}", headers=self.curator())
        assert response.status_code == 200, response.text

    async def feed(self, headers: dict[str, str], **params: Any) -> list[str]:
        response = await self.client.get("/api/v1/feed", params={"limit": 100, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return [i["title"] for i in response.json()["items"]]


@pytest.fixture
async def stack(infra: Infra, issuer: Issuer) -> AsyncIterator[Stack]:
    url = infra.new_database("content")
    settings = ContentSettings(**service_env(infra, issuer, "content", url))
    async with running(build_app(settings)) as client:
        database = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for team in (SALES, ENGINEERING):
                await database.execute(
                    "INSERT INTO teams_copy (org_id, team_id, name, updated_at) VALUES ($1, $2, 'team', now())",
                    ORG,
                    team,
                )
            yield Stack(client, database, issuer)
        finally:
            await database.close()


# --- campaigns ---------------------------------------------------------------------------------------


async def test_a_campaign_is_created_read_changed_listed_and_archived(stack: Stack) -> None:
    made = await stack.campaign(
        "Été 2027: Solar!",
        goal="Tell everyone",
        starts_at="2027-06-01T00:00:00Z",
        ends_at="2027-09-01T00:00:00Z",
        required_disclosure="#ad",
        priority=5,
        audience={"team_ids": [str(SALES)], "locations": [" Milan "], "languages": ["it"], "roles": ["employee"]},
    )
    assert made["utm_campaign"] == "ete-2027-solar"
    assert made["audience"] == {
        "team_ids": [str(SALES)],
        "locations": ["milan"],
        "languages": ["it"],
        "roles": ["employee"],
    }
    got = await stack.client.get(f"/api/v1/campaigns/{made['id']}", headers=stack.curator())
    assert got.json() == made

    changed = await stack.client.patch(
        f"/api/v1/campaigns/{made['id']}",
        json={"priority": 7, "utm_campaign": "summer_2027", "ends_at": None, "audience": {}},
        headers=stack.curator(),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["priority"], body["utm_campaign"], body["ends_at"], body["name"]) == (
        7,
        "summer_2027",
        None,
        "Été 2027: Solar!",
    )
    assert body["audience"] == {"team_ids": [], "locations": [], "languages": [], "roles": []}

    listed = await stack.client.get("/api/v1/campaigns", headers=stack.curator())
    assert [c["id"] for c in listed.json()["items"]] == [made["id"]]
    archived = await stack.client.post(f"/api/v1/campaigns/{made['id']}/archive", headers=stack.curator())
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    again = await stack.client.post(f"/api/v1/campaigns/{made['id']}/archive", headers=stack.curator())
    assert again.status_code == 409
    assert (await stack.client.get("/api/v1/campaigns", headers=stack.curator())).json()["items"] == []
    everything = await stack.client.get("/api/v1/campaigns?include_archived=true", headers=stack.curator())
    assert [c["id"] for c in everything.json()["items"]] == [made["id"]]


@pytest.mark.parametrize(
    ("body", "status", "code", "loc"),
    [
        ({"name": "x", "starts_at": "2027-06-02T00:00:00Z", "ends_at": "2027-06-01T00:00:00Z"}, 422, None, "ends_at"),
        ({"name": "x", "starts_at": "2027-06-01T00:00:00Z", "ends_at": "2027-06-01T00:00:00Z"}, 422, None, "ends_at"),
        ({"name": "x", "utm_campaign": "summer sale"}, 422, "validation_failed", "utm_campaign"),
        ({"name": "x", "utm_campaign": "a/b"}, 422, "validation_failed", "utm_campaign"),
        ({"name": "   "}, 422, "validation_failed", "name"),
        ({"name": "x" * 201}, 422, "validation_failed", "name"),
        ({"name": "x", "priority": 1001}, 422, "validation_failed", "priority"),
        ({"name": "x", "starts_at": "2027-06-01T00:00:00"}, 422, "validation_failed", "starts_at"),
        ({"name": "x", "audience": {"languages": ["not a tag"]}}, 422, "validation_failed", "audience"),
        ({"name": "x", "audience": {"roles": ["boss"]}}, 422, "validation_failed", "audience"),
        ({"name": "x", "surprise": 1}, 422, "validation_failed", "surprise"),
    ],
)
async def test_bad_campaigns_are_refused_and_change_nothing(
    stack: Stack, body: dict[str, Any], status: int, code: str | None, loc: str
) -> None:
    response = await stack.client.post("/api/v1/campaigns", json=body, headers=stack.curator())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert any(loc in detail["loc"] for detail in error["details"]), error
    everything = await stack.client.get("/api/v1/campaigns?include_archived=true", headers=stack.curator())
    assert everything.json()["items"] == []


async def test_unknown_team_ids_are_refused_naming_them(stack: Stack) -> None:
    stranger, other_orgs = uuid.uuid4(), uuid.uuid4()
    await stack.db.execute(
        "INSERT INTO teams_copy (org_id, team_id, name, updated_at) VALUES ($1, $2, 'theirs', now())",
        OTHER_ORG,
        other_orgs,
    )
    audience = {"team_ids": [str(SALES), str(stranger), str(other_orgs)]}
    response = await stack.client.post(
        "/api/v1/campaigns", json={"name": "Targeted", "audience": audience}, headers=stack.curator()
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_teams"
    assert str(stranger) in error["message"] and str(other_orgs) in error["message"]
    assert str(SALES) not in error["message"]
    assert [d["loc"] for d in error["details"]] == [
        ["body", "audience", "team_ids", 1],
        ["body", "audience", "team_ids", 2],
    ]
    item = await stack.publish("An item")
    refused = await stack.client.put(
        f"/api/v1/content-items/{item}/audience", json={"audience": audience}, headers=stack.curator()
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_teams"
    got = await stack.client.get(f"/api/v1/content-items/{item}", headers=stack.curator())
    assert got.json()["audience"]["team_ids"] == []


async def test_a_duplicate_campaign_name_names_the_existing_one(stack: Stack) -> None:
    first = await stack.campaign("Solar")
    second = await stack.campaign("Wind")
    duplicate = await stack.client.post("/api/v1/campaigns", json={"name": "Solar"}, headers=stack.curator())
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["conflicting_id"] == first["id"]
    renamed = await stack.client.patch(
        f"/api/v1/campaigns/{second['id']}", json={"name": "Solar"}, headers=stack.curator()
    )
    assert renamed.status_code == 409
    assert renamed.json()["error"]["conflicting_id"] == first["id"]
    # Another org may use the name.
    theirs = await stack.client.post("/api/v1/campaigns", json={"name": "Solar"}, headers=stack.curator(OTHER_ORG))
    assert theirs.status_code == 201


async def test_a_campaign_ending_before_it_starts_is_refused_on_update(stack: Stack) -> None:
    made = await stack.campaign("Dated", starts_at="2027-06-01T00:00:00Z")
    response = await stack.client.patch(
        f"/api/v1/campaigns/{made['id']}", json={"ends_at": "2027-05-01T00:00:00Z"}, headers=stack.curator()
    )
    assert response.status_code == 422
    got = await stack.client.get(f"/api/v1/campaigns/{made['id']}", headers=stack.curator())
    assert got.json()["ends_at"] is None


async def test_campaign_items_are_added_listed_and_removed(stack: Stack) -> None:
    made = await stack.campaign("Solar")
    other = await stack.campaign("Wind")
    item = await stack.publish("Plant")
    await stack.add(made["id"], item)
    await stack.add(made["id"], item)  # again: nothing changes
    listed = await stack.client.get(f"/api/v1/campaigns/{made['id']}/items", headers=stack.curator())
    assert [i["id"] for i in listed.json()["items"]] == [item]
    assert listed.json()["items"][0]["campaign_id"] == made["id"]
    await stack.add(other["id"], item)  # moves it
    listed = await stack.client.get(f"/api/v1/campaigns/{made['id']}/items", headers=stack.curator())
    assert listed.json()["items"] == []
    not_in = await stack.client.delete(f"/api/v1/campaigns/{made['id']}/items/{item}", headers=stack.curator())
    assert not_in.status_code == 404
    removed = await stack.client.delete(f"/api/v1/campaigns/{other['id']}/items/{item}", headers=stack.curator())
    assert removed.status_code == 200 and removed.json()["campaign_id"] is None


async def test_only_curators_and_admins_manage_campaigns(stack: Stack) -> None:
    made = await stack.campaign("Solar")
    employee = stack.member("e-1")
    for method, path in (
        ("POST", "/api/v1/campaigns"),
        ("GET", "/api/v1/campaigns"),
        ("GET", f"/api/v1/campaigns/{made['id']}"),
        ("PATCH", f"/api/v1/campaigns/{made['id']}"),
        ("POST", f"/api/v1/campaigns/{made['id']}/archive"),
        ("GET", f"/api/v1/campaigns/{made['id']}/items"),
    ):
        response = await stack.client.request(method, path, json={"name": "x"}, headers=employee)
        assert response.status_code == 403, (method, path)


# --- the feed ----------------------------------------------------------------------------------------


async def test_the_audience_decides_who_sees_what(stack: Stack) -> None:
    await stack.on_roster("ada", [SALES], "Milan", "it-IT")
    await stack.on_roster("bob", [ENGINEERING], "Berlin", "de")
    await stack.on_roster("cy", [SALES, ENGINEERING], "milan", "en", roles=["employee", "curator"])
    everyone = await stack.publish("everyone")
    sales = await stack.publish("sales")
    italian_in_milan = await stack.publish("italian in milan")
    curators = await stack.publish("curators")
    for item, audience in (
        (sales, {"team_ids": [str(SALES)]}),
        (italian_in_milan, {"locations": ["MILAN"], "languages": ["it"]}),
        (curators, {"roles": ["curator"]}),
    ):
        response = await stack.client.put(
            f"/api/v1/content-items/{item}/audience", json={"audience": audience}, headers=stack.curator()
        )
        assert response.status_code == 200, response.text
    assert everyone
    assert await stack.feed(stack.member("ada")) == ["italian in milan", "sales", "everyone"]
    assert await stack.feed(stack.member("bob")) == ["everyone"]
    assert await stack.feed(stack.member("cy", [Role.EMPLOYEE, Role.CURATOR])) == ["curators", "sales", "everyone"]
    # Not on the roster copy: only what asks for no team, place or language.
    assert await stack.feed(stack.member("nobody")) == ["everyone"]
    # One item's answer is the feed's rule: 404 for a member it does not reach.
    assert (await stack.client.get(f"/api/v1/content-items/{sales}", headers=stack.member("bob"))).status_code == 404
    assert (await stack.client.get(f"/api/v1/content-items/{sales}", headers=stack.member("ada"))).status_code == 200

    # A roster change moves the feed with it.
    await stack.on_roster("bob", [SALES], "Berlin", "de")
    assert await stack.feed(stack.member("bob")) == ["sales", "everyone"]


async def test_an_item_in_a_campaign_needs_both_audiences(stack: Stack) -> None:
    await stack.on_roster("ada", [SALES], "Milan", "it")
    await stack.on_roster("bob", [ENGINEERING], "Milan", "de")
    campaign = await stack.campaign("Italia", audience={"languages": ["it"]})
    both = await stack.publish("sales, in italian")
    await stack.client.put(
        f"/api/v1/content-items/{both}/audience", json={"audience": {"locations": ["milan"]}}, headers=stack.curator()
    )
    await stack.add(campaign["id"], both)
    assert await stack.feed(stack.member("ada")) == ["sales, in italian"]
    assert await stack.feed(stack.member("bob")) == []
    assert (await stack.client.get(f"/api/v1/content-items/{both}", headers=stack.member("bob"))).status_code == 404
    # An archived campaign's items leave the feed.
    await stack.client.post(f"/api/v1/campaigns/{campaign['id']}/archive", headers=stack.curator())
    assert await stack.feed(stack.member("ada")) == []


async def test_the_feed_ranks_pins_then_priority_then_freshness_and_sinks_shared_items(stack: Stack) -> None:
    now = datetime.now(UTC)
    old = await stack.publish("old", published_at=now - timedelta(days=3))
    await stack.publish("new", published_at=now - timedelta(hours=1))
    pinned_second = await stack.publish("pinned 2", pinned_position=2, published_at=now - timedelta(days=9))
    await stack.publish("pinned 1", pinned_position=1, published_at=now - timedelta(days=10))
    await stack.publish("pin ended", pinned_position=0, pinned_until=now - timedelta(hours=1))
    await stack.publish("pin ahead", pinned_position=3, pinned_until=now + timedelta(days=1))
    await stack.publish("expired", expires_at=now - timedelta(minutes=1))
    await stack.publish("expiring later", expires_at=now + timedelta(days=1), published_at=now - timedelta(days=5))
    high, low = await stack.campaign("High", priority=10), await stack.campaign("Low", priority=-1)
    boosted = await stack.publish("boosted", published_at=now - timedelta(days=30))
    sunk = await stack.publish("low priority", published_at=now)
    await stack.add(high["id"], boosted)
    await stack.add(low["id"], sunk)
    draft = await stack.client.post(
        "/api/v1/content-items", json={"title": "draft", "url": "https://acme.example/d"}, headers=stack.curator()
    )
    assert draft.status_code == 201

    expected = [
        "pinned 1",
        "pinned 2",
        "pin ahead",
        "boosted",
        "pin ended",
        "new",
        "old",
        "expiring later",
        "low priority",
    ]
    assert await stack.feed(stack.member("ada")) == expected

    # Shared items sink below the rest, in the same order among themselves, and are marked.
    for item in (old, pinned_second):
        await stack.db.execute(
            "INSERT INTO member_shares (org_id, subject, content_id, shared_at) VALUES ($1, 'ada', $2, now())",
            ORG,
            uuid.UUID(item),
        )
    ranked = [t for t in expected if t not in ("old", "pinned 2")] + ["pinned 2", "old"]
    assert await stack.feed(stack.member("ada")) == ranked
    page = (await stack.client.get("/api/v1/feed?limit=100", headers=stack.member("ada"))).json()["items"]
    assert [(i["title"], i["shared_by_me"]) for i in page if i["shared_by_me"]] == [("pinned 2", True), ("old", True)]
    assert [i["title"] for i in page if i["pinned"]] == ["pinned 1", "pin ahead", "pinned 2"]
    # Someone else's shares change nothing for the others.
    assert await stack.feed(stack.member("bob")) == expected

    # A campaign's new priority moves its items at once.
    await stack.client.patch(f"/api/v1/campaigns/{low['id']}", json={"priority": 20}, headers=stack.curator())
    assert (await stack.feed(stack.member("bob")))[3] == "low priority"


async def test_paging_through_the_feed_yields_each_item_once_in_order(stack: Stack) -> None:
    now = datetime.now(UTC)
    await stack.on_roster("ada", [SALES])
    campaigns = [await stack.campaign(f"C{n}", priority=n) for n in range(3)]
    same_time = now - timedelta(hours=2)
    for n in range(23):
        extra: dict[str, Any] = {"published_at": same_time if n % 4 == 0 else now - timedelta(minutes=n)}
        if n % 7 == 0:
            extra["pinned_position"] = n % 3
        item = await stack.publish(f"item {n}", **extra)
        if n % 3:
            await stack.add(campaigns[n % 3]["id"], item)
        if n % 5 == 0:
            await stack.db.execute(
                "INSERT INTO member_shares (org_id, subject, content_id, shared_at) VALUES ($1, 'ada', $2, now())",
                ORG,
                uuid.UUID(item),
            )
    whole = await stack.feed(stack.member("ada"))
    assert len(whole) == 23
    for size in (1, 4, 7):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": size}
            if cursor:
                params["cursor"] = cursor
            body = (await stack.client.get("/api/v1/feed", params=params, headers=stack.member("ada"))).json()
            seen += [i["title"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == whole, size
        # Backward from the end, and from an item's own cursor.
        back: list[str] = []
        before = ""
        while before is not None:
            body = (
                await stack.client.get(
                    "/api/v1/feed", params={"limit": size, "before": before}, headers=stack.member("ada")
                )
            ).json()
            back = [i["title"] for i in body["items"]] + back
            before = body["next_cursor"]
        assert back == whole, size
    page = (await stack.client.get("/api/v1/feed?limit=100", headers=stack.member("ada"))).json()["items"]
    after_ninth = (
        await stack.client.get("/api/v1/feed", params={"cursor": page[8]["cursor"]}, headers=stack.member("ada"))
    ).json()
    assert [i["title"] for i in after_ninth["items"]] == whole[9:]


async def test_the_feed_filters_by_topic_and_campaign(stack: Stack) -> None:
    solar = await stack.campaign("Solar")
    a = await stack.publish("a", topics=["energy", "news"])
    await stack.publish("b", topics=["news"])
    c = await stack.publish("c")
    await stack.add(solar["id"], a)
    await stack.add(solar["id"], c)
    assert await stack.feed(stack.member("ada"), topic="energy") == ["a"]
    assert sorted(await stack.feed(stack.member("ada"), topic="news")) == ["a", "b"]
    assert sorted(await stack.feed(stack.member("ada"), campaign_id=solar["id"])) == ["a", "c"]
    assert await stack.feed(stack.member("ada"), campaign_id=solar["id"], topic="news") == ["a"]
    theirs = await stack.client.get(
        "/api/v1/feed", params={"campaign_id": solar["id"]}, headers=stack.member("ada", org=OTHER_ORG)
    )
    assert theirs.status_code == 200 and theirs.json()["items"] == []


@pytest.mark.parametrize("cursor", ["nope", "WyJmMSIsOSwwLDAsIngiLCJ5Il0", "W10", "x" * 600])
async def test_a_cursor_the_feed_did_not_hand_out_is_refused(stack: Stack, cursor: str) -> None:
    response = await stack.client.get("/api/v1/feed", params={"cursor": cursor}, headers=stack.member("ada"))
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"] in ("invalid_cursor", "validation_failed")


async def test_another_orgs_campaigns_and_items_are_not_found(stack: Stack) -> None:
    made = await stack.campaign("Solar")
    item = await stack.publish("Plant")
    theirs = stack.curator(OTHER_ORG)
    for method, path in (
        ("GET", f"/api/v1/campaigns/{made['id']}"),
        ("PATCH", f"/api/v1/campaigns/{made['id']}"),
        ("POST", f"/api/v1/campaigns/{made['id']}/archive"),
        ("GET", f"/api/v1/campaigns/{made['id']}/items"),
        ("PUT", f"/api/v1/campaigns/{made['id']}/items/{item}"),
        ("DELETE", f"/api/v1/campaigns/{made['id']}/items/{item}"),
        ("PUT", f"/api/v1/content-items/{item}/audience"),
    ):
        body = {"audience": {}} if path.endswith("audience") else {}
        response = await stack.client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
    # Their own campaign cannot take our item.
    mine = await stack.client.post("/api/v1/campaigns", json={"name": "Theirs"}, headers=theirs)
    response = await stack.client.put(f"/api/v1/campaigns/{mine.json()['id']}/items/{item}", headers=theirs)
    assert response.status_code == 404

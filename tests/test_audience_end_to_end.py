"""Targeting end to end, through the five real processes: policy's roster (a CSV import) announces teams
and members; content's copies of them decide who sees which item in the feed; sharing refuses a share
of an item that does not reach its author; a roster change moves a member's feed; a published share
sinks the item in its author's feed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem, eventually

CSV = """subject,email,name,teams,location,language
ada-{tag},ada-{tag}@acme.example,Ada,Sales,Milan,it-IT
bob-{tag},bob-{tag}@acme.example,Bob,{bob_team},Berlin,de
"""


def _import(system: RunningSystem, admin: dict[str, str], tag: str, bob_team: str) -> None:
    response = httpx.post(
        f"{system.urls['policy']}/api/v1/roster/imports",
        params={"dry_run": "false"},
        content=CSV.format(tag=tag, bob_team=bob_team),
        headers={**admin, "Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def _feed(system: RunningSystem, headers: dict[str, str]) -> list[tuple[str, bool]]:
    response = httpx.get(f"{system.urls['content']}/api/v1/feed", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return [(i["title"], i["shared_by_me"]) for i in response.json()["items"]]


def test_the_roster_decides_each_members_feed_and_what_they_may_share(system: RunningSystem) -> None:
    org, tag = uuid.uuid4(), uuid.uuid4().hex[:8]
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="audience-admin")
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="audience-curator")
    ada = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=f"ada-{tag}")
    bob = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=f"bob-{tag}")
    content = f"{system.urls['content']}/api/v1"
    _import(system, admin, tag, "Engineering")
    teams = httpx.get(f"{system.urls['policy']}/api/v1/teams", headers=admin).json()["items"]
    sales = next(t["id"] for t in teams if t["name"] == "Sales")

    # Content learns the org's teams from TeamChanged: until then the team is unknown to it.
    def campaign() -> dict[str, Any] | None:
        body = {"name": "Italia", "priority": 5, "audience": {"languages": ["it"]}}
        response = httpx.post(f"{content}/campaigns", json=body, headers=curator)
        assert response.status_code in (201, 409), response.text
        listed = httpx.get(f"{content}/campaigns", headers=curator).json()["items"]
        return listed[0] if listed else None

    italia = eventually(campaign)

    def audience_accepted(item_id: str) -> bool:
        body = {"audience": {"team_ids": [sales]}}
        response = httpx.put(f"{content}/content-items/{item_id}/audience", json=body, headers=curator)
        assert response.status_code in (200, 422), response.text
        return response.status_code == 200

    ids = {}
    for title in ("for sales", "in italian", "for everyone"):
        created = httpx.post(
            f"{content}/content-items", json={"title": title, "url": "https://acme.example/a"}, headers=curator
        )
        assert created.status_code == 201, created.text
        ids[title] = created.json()["id"]
    eventually(lambda: audience_accepted(ids["for sales"]))
    added = httpx.put(f"{content}/campaigns/{italia['id']}/items/{ids['in italian']}", headers=curator)
    assert added.status_code == 200, added.text
    for item_id in ids.values():
        assert httpx.post(f"{content}/content-items/{item_id}/publish", headers=curator).status_code == 200

    # Members of different teams, places and languages see different feeds (once MemberUpserted arrived).
    everything = [("in italian", False), ("for everyone", False), ("for sales", False)]
    eventually(lambda: _feed(system, ada) == everything)
    eventually(lambda: _feed(system, bob) == [("for everyone", False)])

    # Sharing refuses bob's share of an item not for him, as if it did not exist; ada's goes through.
    share = {"content_id": ids["for sales"], "network": "x", "text": "Proud of this, in my own words"}
    mine = httpx.post(f"{system.urls['sharing']}/api/v1/shares", json=share, headers=ada, timeout=15)
    assert mine.status_code == 202, mine.text
    refused = httpx.post(f"{system.urls['sharing']}/api/v1/shares", json=share, headers=bob, timeout=15)
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "not_found"
    unknown = {**share, "content_id": str(uuid.uuid4())}
    assert httpx.post(f"{system.urls['sharing']}/api/v1/shares", json=unknown, headers=bob).status_code == 404
    # The item itself answers 404 to him too.
    assert httpx.get(f"{content}/content-items/{ids['for sales']}", headers=bob).status_code == 404

    # Once the share is published (SharePublished), the item sinks in ada's feed, marked.
    eventually(lambda: _feed(system, ada) == [("in italian", False), ("for everyone", False), ("for sales", True)])

    # A roster event moving bob to Sales changes his feed and what he may share.
    _import(system, admin, tag, "Sales")
    eventually(lambda: _feed(system, bob) == [("for everyone", False), ("for sales", False)])
    # A campaign's new audience reaches sharing's catalog (CampaignChanged, and the item announced again):
    # the Italian item is no longer ada's to share once the campaign asks for French speakers.
    italian = {**share, "content_id": ids["in italian"]}
    changed = httpx.patch(
        f"{content}/campaigns/{italia['id']}", json={"audience": {"languages": ["fr"]}}, headers=curator
    )
    assert changed.status_code == 200, changed.text
    eventually(lambda: ("in italian", False) not in _feed(system, ada))
    eventually(
        lambda: (
            httpx.post(f"{system.urls['sharing']}/api/v1/shares", json=italian, headers=ada, timeout=15).status_code
            == 404
        )
    )

    # Sharing's own roster copy follows from its own consumer group, maybe a moment later.
    eventually(
        lambda: (
            httpx.post(f"{system.urls['sharing']}/api/v1/shares", json=share, headers=bob, timeout=15).status_code
            == 202
        )
    )

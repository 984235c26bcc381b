import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")


def member_body(subject: str = "alice", **changes: Any) -> dict[str, Any]:
    body = {
        "subject": subject,
        "email": f"{subject.strip()}@acme.example",
        "name": "Alice Rossi",
        "roles": ["employee"],
    }
    return body | changes


async def test_admin_builds_the_roster_and_a_member_finds_themselves(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="ada")
    team = await client.post("/api/v1/teams", json={"name": "  Sales Italia "}, headers=admin)
    assert team.status_code == 201, team.text
    assert team.json() == {"id": team.json()["id"], "name": "Sales Italia", "created_at": team.json()["created_at"]}

    created = await client.post(
        "/api/v1/members",
        json=member_body("alice", team_id=team.json()["id"], roles=["employee", "manager", "employee"]),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["created_at"]
    assert {k: v for k, v in member.items() if k not in ("id", "created_at")} == {
        "subject": "alice",
        "email": "alice@acme.example",
        "name": "Alice Rossi",
        "team_id": team.json()["id"],
        "roles": ["employee", "manager"],
        # The roster's attributes (issue 6): active, all teams, and what an admin did not give.
        "active": True,
        "team_ids": [team.json()["id"]],
        "location": None,
        "language": None,
        "time_zone": None,
        "department": None,
        "title": None,
        "manager_id": None,
    }

    me = await client.get("/api/v1/members/me", headers=headers(issuer, org, Role.EMPLOYEE, subject="alice"))
    assert me.status_code == 200, me.text
    assert me.json() == member

    listed = await client.get("/api/v1/members", headers=headers(issuer, org, Role.MANAGER, subject="mario"))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [member], "next_cursor": None}


async def test_member_without_a_roster_entry_gets_not_found(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    created = await client.post("/api/v1/members", json=member_body("alice"), headers=headers(issuer, org, Role.ADMIN))
    assert created.status_code == 201, created.text
    for caller in (
        headers(issuer, org, Role.EMPLOYEE, subject="bob"),
        headers(issuer, new_org(), Role.EMPLOYEE, subject="alice"),  # same subject, another org
    ):
        me = await client.get("/api/v1/members/me", headers=caller)
        assert me.status_code == 404, me.text
        assert me.json()["error"]["code"] == "not_found"


async def test_duplicate_subject_and_team_name_answer_conflict(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    alice = await client.post("/api/v1/members", json=member_body("alice"), headers=admin)
    assert alice.status_code == 201
    again = await client.post("/api/v1/members", json=member_body("alice", name="Another Alice"), headers=admin)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict"
    assert "alice" in again.json()["error"]["message"]
    assert again.json()["error"]["conflicting_id"] == alice.json()["id"]  # names the existing member

    sales = await client.post("/api/v1/teams", json={"name": "Sales"}, headers=admin)
    assert sales.status_code == 201
    team_again = await client.post("/api/v1/teams", json={"name": "Sales"}, headers=admin)
    assert team_again.status_code == 409, team_again.text
    assert team_again.json()["error"]["code"] == "conflict"
    assert team_again.json()["error"]["conflicting_id"] == sales.json()["id"]

    # Unique per org: another org may use the same subject and team name.
    other_admin = headers(issuer, new_org(), Role.ADMIN)
    assert (await client.post("/api/v1/members", json=member_body("alice"), headers=other_admin)).status_code == 201
    assert (await client.post("/api/v1/teams", json={"name": "Sales"}, headers=other_admin)).status_code == 201


async def test_roster_changes_need_an_admin(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    for role in (Role.EMPLOYEE, Role.MANAGER, Role.CURATOR, Role.REVIEWER):
        caller = headers(issuer, org, role)
        for path, body in (("/api/v1/members", member_body()), ("/api/v1/teams", {"name": "Sales"})):
            response = await client.post(path, json=body, headers=caller)
            assert response.status_code == 403, (role, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    for role in (Role.EMPLOYEE, Role.CURATOR, Role.REVIEWER):
        listed = await client.get("/api/v1/members", headers=headers(issuer, org, role))
        assert listed.status_code == 403, (role, listed.text)
        assert listed.json()["error"]["code"] == "forbidden"
    anonymous = await client.get("/api/v1/teams")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"


async def test_a_team_of_another_org_answers_not_found(client: httpx.AsyncClient, issuer: Issuer) -> None:
    other_team = await client.post(
        "/api/v1/teams", json={"name": "Theirs"}, headers=headers(issuer, new_org(), Role.ADMIN)
    )
    assert other_team.status_code == 201
    org = new_org()
    for team_id in (other_team.json()["id"], str(uuid.uuid4())):
        response = await client.post(
            "/api/v1/members", json=member_body(team_id=team_id), headers=headers(issuer, org, Role.ADMIN)
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "team not found",
            # Names the field that held the id, the same for another org's team and for none at all.
            "details": [{"loc": ["body", "team_id"], "message": "names no team of the org"}],
            "request_id": response.json()["error"]["request_id"],
        }
    listed = await client.get("/api/v1/members", headers=headers(issuer, org, Role.ADMIN))
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_lists_show_only_the_callers_org_in_pages(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    team_ids = [
        (await client.post("/api/v1/teams", json={"name": f"t{n}"}, headers=admin)).json()["id"] for n in range(5)
    ]
    member_ids = [
        (await client.post("/api/v1/members", json=member_body(f"m{n}"), headers=admin)).json()["id"] for n in range(3)
    ]
    # Noise in another org, which must not show up.
    other = headers(issuer, new_org(), Role.ADMIN)
    await client.post("/api/v1/teams", json={"name": "t0"}, headers=other)
    await client.post("/api/v1/members", json=member_body("m0"), headers=other)

    async def read_all(path: str, caller: dict[str, str]) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.get(path, params=params, headers=caller)
            assert page.status_code == 200, page.text
            assert len(page.json()["items"]) <= 2
            seen += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                return seen

    assert await read_all("/api/v1/teams", headers(issuer, org, Role.EMPLOYEE)) == team_ids
    assert await read_all("/api/v1/members", admin) == member_ids

    forged = [
        "garbage!",
        base64.urlsafe_b64encode(json.dumps(["yesterday", "x"]).encode()).decode(),
        # A date that exists in Python but not in UTC, where the database compares it.
        base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", team_ids[0]]).encode()).decode(),
    ]
    for path in ("/api/v1/teams", "/api/v1/members"):
        for cursor in forged:
            bad = await client.get(path, params={"cursor": cursor}, headers=admin)
            assert bad.status_code == 400, (path, bad.text)
            assert bad.json()["error"]["code"] == "invalid_cursor"
    for limit in (0, 101):
        bad = await client.get("/api/v1/members", params={"limit": limit}, headers=admin)
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["details"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "alice", "email": "alice@acme.example", "name": "Alice"}, "roles"),
        (member_body(roles=["superuser"]), "roles"),
        (member_body(roles=[]), "roles"),
        (member_body(roles="admin"), "roles"),
        (member_body(email="not-an-email"), "email"),
        (member_body(email="a@b"), "email"),
        (member_body(email="a" * 310 + "@acme.example"), "email"),
        (member_body(email="al\x00ice@acme.example"), "email"),
        (member_body(name=""), "name"),
        (member_body(name="   "), "name"),
        (member_body(name="x" * 201), "name"),
        (member_body(name="Alice\x00"), "name"),
        (member_body(subject="", email="a@acme.example"), "subject"),
        (member_body(subject=" alice"), "subject"),
        (member_body(subject="x" * 256, email="a@acme.example"), "subject"),
        (member_body(team_id="not-a-uuid"), "team_id"),
    ],
)
async def test_create_member_rejects_bad_input(
    client: httpx.AsyncClient, issuer: Issuer, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/members", json=body, headers=headers(issuer, new_org(), Role.ADMIN))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [d["loc"][:2] for d in error["details"]] == [["body", field]]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": " "}, {"name": "x" * 201}, {"name": 5}, {"name": "a\x00b"}]
)
async def test_create_team_rejects_bad_input(client: httpx.AsyncClient, issuer: Issuer, body: dict[str, Any]) -> None:
    response = await client.post("/api/v1/teams", json=body, headers=headers(issuer, new_org(), Role.ADMIN))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert [d["loc"][:2] for d in response.json()["error"]["details"]] == [["body", "name"]]


async def test_malformed_json_answers_in_the_error_shape(client: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await client.post(
        "/api/v1/members",
        content=b"{not json",
        headers={**headers(issuer, new_org(), Role.ADMIN), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"


async def test_lists_read_backward_from_a_cursor_or_from_the_end(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    team_ids = [
        (await client.post("/api/v1/teams", json={"name": f"b{n}"}, headers=admin)).json()["id"] for n in range(5)
    ]

    async def page(**params: Any) -> dict[str, Any]:
        response = await client.get("/api/v1/teams", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    last = await page(limit=2, before="")
    assert [t["id"] for t in last["items"]] == team_ids[3:]  # the end of the list, in the list's order
    earlier = await page(limit=2, before=last["next_cursor"])  # next_cursor continues backward
    assert [t["id"] for t in earlier["items"]] == team_ids[1:3]
    first = await page(limit=2, before=earlier["next_cursor"])
    assert [t["id"] for t in first["items"]] == team_ids[:1]
    assert first["next_cursor"] is None

    # A forward page's cursor and a backward one name the same positions.
    forward = await page(limit=3)
    back_from_it = await page(limit=5, before=forward["next_cursor"])
    assert [t["id"] for t in back_from_it["items"]] == team_ids[:2]

    for before in ("", forward["next_cursor"]):  # one direction a page
        clash = await client.get(
            "/api/v1/teams", params={"cursor": forward["next_cursor"], "before": before}, headers=admin
        )
        assert clash.status_code == 400 and clash.json()["error"]["code"] == "invalid_cursor"


async def test_one_team_and_one_member_by_id_within_the_org(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    team = (await client.post("/api/v1/teams", json={"name": "One"}, headers=admin)).json()
    member = (await client.post("/api/v1/members", json=member_body("solo"), headers=admin)).json()
    colleague = (await client.post("/api/v1/members", json=member_body("other"), headers=admin)).json()
    stranger = headers(issuer, new_org(), Role.ADMIN)
    self_ = headers(issuer, org, Role.EMPLOYEE, subject="solo")

    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=self_)).json() == team
    assert (await client.get(f"/api/v1/members/{member['id']}", headers=self_)).json() == member
    assert (await client.get(f"/api/v1/members/{colleague['id']}", headers=admin)).json() == colleague
    for path, who in (
        (f"/api/v1/teams/{team['id']}", stranger),
        (f"/api/v1/teams/{uuid.uuid4()}", admin),
        (f"/api/v1/members/{member['id']}", stranger),
        (f"/api/v1/members/{colleague['id']}", self_),  # an employee sees only their own entry
        (f"/api/v1/members/{uuid.uuid4()}", admin),
    ):
        response = await client.get(path, headers=who)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"

"""The CSV import: a dry run reports every bad row and changes nothing; an apply is all-or-nothing and
idempotent; a deactivation by CSV is the kill-switch too."""

from __future__ import annotations

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")

GOOD = (
    "email,name,teams,location,language,time_zone,title,manager_email,roles\n"
    "boss@acme.example,Bea Boss,Sales;Leadership,Milano,it-IT,Europe/Rome,Head of Sales,,employee;manager\n"
    "ann@acme.example,Ann Rossi,Sales,Milano,it,Europe/Rome,Account Executive,boss@acme.example,\n"
    "carl@acme.example,Carl Neri,,Torino,en-GB,Europe/London,,boss@acme.example,employee\n"
)


async def run(client: httpx.AsyncClient, admin: dict[str, str], body: str, *, dry_run: bool) -> httpx.Response:
    return await client.post(
        "/api/v1/roster/imports",
        params={"dry_run": str(dry_run).lower()},
        content=body.encode(),
        headers={**admin, "Content-Type": "text/csv"},
    )


async def roster(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, dict[str, object]]:
    page = await client.get("/api/v1/roster/members", headers=admin)
    return {m["subject"]: m for m in page.json()["items"]}


async def test_apply_is_idempotent_and_a_dry_run_changes_nothing(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="importer")
    dry = await run(client, admin, GOOD, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"errors": []} == {
        "dry_run": True,
        "applied": False,
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
        "errors": [],
    }
    assert await roster(client, admin) == {}

    applied = await run(client, admin, GOOD, dry_run=False)
    assert applied.status_code == 200, applied.text
    assert (applied.json()["applied"], applied.json()["created"]) == (True, 3)
    members = await roster(client, admin)
    ann, boss = members["ann@acme.example"], members["boss@acme.example"]
    assert ann["manager_id"] == boss["id"] and ann["roles"] == ["employee"]
    assert boss["roles"] == ["manager", "employee"]
    assert (ann["location"], ann["language"], ann["time_zone"], ann["source"]) == ("Milano", "it", "Europe/Rome", "csv")
    teams = {t["name"]: t["id"] for t in (await client.get("/api/v1/teams", headers=admin)).json()["items"]}
    assert boss["team_ids"] == [teams["Sales"], teams["Leadership"]]

    again = await run(client, admin, GOOD, dry_run=False)
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 3)
    assert await roster(client, admin) == members

    # One changed row and one deactivation.
    changed = GOOD.replace("Account Executive", "Senior AE") + "\n"
    with_active = changed.replace("manager_email,roles\n", "manager_email,roles,active\n")
    with_active = (
        with_active.replace("employee;manager\n", "employee;manager,true\n")
        .replace("boss@acme.example,\n", "boss@acme.example,,true\n")
        .replace("boss@acme.example,employee\n", "boss@acme.example,employee,false\n")
    )
    third = await run(client, admin, with_active, dry_run=False)
    assert third.status_code == 200, third.text
    assert (third.json()["updated"], third.json()["deactivated"], third.json()["unchanged"]) == (2, 1, 1)
    members = await roster(client, admin)
    assert members["ann@acme.example"]["title"] == "Senior AE"
    assert members["carl@acme.example"]["active"] is False
    refused = await client.get(
        "/api/v1/members/me", headers=headers(issuer, org, Role.EMPLOYEE, subject="carl@acme.example")
    )
    assert refused.status_code == 403


BAD = (
    "email,name,teams,time_zone,language,roles,manager_email\n"
    "ok@acme.example,Okay,Sales,Europe/Rome,it,employee,\n"  # line 2: fine
    "not-an-email,Bad Mail,,,,employee,\n"  # line 3
    "x@acme.example,,,,,employee,\n"  # line 4: no name
    "y@acme.example,Why,,Mars/Base,,employee,\n"  # line 5
    "z@acme.example,Zed,,,,overlord,\n"  # line 6
    "ok@acme.example,Twice,,,,employee,\n"  # line 7: duplicate
    "w@acme.example,Who,,,,employee,ghost@acme.example\n"  # line 8: unknown manager
    "v@acme.example,Vee,,,english!,employee,\n"  # line 9
    "u@acme.example,You\n"  # line 10: too few values
)


async def test_every_bad_row_is_reported_with_its_line_and_nothing_changes(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="importer")
    dry = await run(client, admin, BAD, dry_run=True)
    assert dry.status_code == 200
    lines = {e["line"]: e["reason"] for e in dry.json()["errors"]}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "not an e-mail address" in lines[3]
    assert "name is empty" in lines[4]
    assert "Mars/Base" in lines[5]
    assert "overlord" in lines[6]
    assert "line 2" in lines[7]
    assert "ghost@acme.example" in lines[8]
    assert "english!" in lines[9]
    assert "3 values" not in lines[10] and "2 values" in lines[10]

    applied = await run(client, admin, BAD, dry_run=False)
    assert applied.status_code == 422
    error = applied.json()["error"]
    assert error["code"] == "csv_invalid"
    assert [d["loc"] for d in error["details"]] == [["body", n] for n in (3, 4, 5, 6, 7, 8, 9, 10)]
    assert await roster(client, admin) == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe\x00", "UTF-8"),
        (b"mail,name\n", "missing column(s): email"),
        (b"email,name,shoe_size\n", "unknown column(s): shoe_size"),
        (b"email,name,email\n", "named twice"),
    ],
)
async def test_a_file_that_is_not_the_documented_csv_answers_with_a_reason(
    client: httpx.AsyncClient, issuer: Issuer, body: bytes, reason: str
) -> None:
    admin = headers(issuer, new_org(), Role.ADMIN)
    answer = await client.post("/api/v1/roster/imports", params={"dry_run": "true"}, content=body, headers=admin)
    assert answer.status_code == 200
    assert [e["line"] for e in answer.json()["errors"]] == [1]
    assert reason in answer.json()["errors"][0]["reason"]
    applied = await client.post("/api/v1/roster/imports", params={"dry_run": "false"}, content=body, headers=admin)
    assert applied.status_code == 422


async def test_a_request_without_a_file_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    admin = headers(issuer, new_org(), Role.ADMIN)
    for dry_run in ("true", "false"):
        answer = await client.post("/api/v1/roster/imports", params={"dry_run": dry_run}, headers=admin)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"] == [{"loc": ["body"], "message": "required"}]
    assert await roster(client, admin) == {}


async def test_only_admins_import(client: httpx.AsyncClient, issuer: Issuer) -> None:
    manager = headers(issuer, new_org(), Role.MANAGER)
    assert (await run(client, manager, GOOD, dry_run=True)).status_code == 403

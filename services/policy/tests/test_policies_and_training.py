"""Policies and training through the policy service's REST API, on a real database: what a member must do
before sharing, shown by the live check in the same words the decision uses."""

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")

POLICY = {"title": "Social media policy", "body": "# Be yourself\n\nShare in your own words."}
MODULE: dict[str, Any] = {
    "title": "Sharing on LinkedIn",
    "lessons": [{"title": "Your voice", "body": "Write as you speak."}],
    "questions": [
        {"prompt": "May you share a draft?", "options": ["Yes", "No"], "correct_options": [1]},
        {"prompt": "Which are fine?", "options": ["Own words", "Secrets", "Public news"], "correct_options": [0, 2]},
    ],
    "pass_mark": 100,
    "certification_valid_days": 365,
    "required_for_networks": ["LinkedIn"],
}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def check(client: httpx.AsyncClient, member: dict[str, str], network: str = "x") -> dict[str, Any]:
    body = {"network": network, "text": "Proud of our team", "url": "https://acme.example/news"}
    result: dict[str, Any] = ok(await client.post("/api/v1/policy-checks", json=body, headers=member))
    return result


async def publish_policy(
    client: httpx.AsyncClient, admin: dict[str, str], body: str = POLICY["body"], **publish: Any
) -> dict[str, Any]:
    draft = ok(await client.post("/api/v1/policy-versions", json={**POLICY, "body": body}, headers=admin), 201)
    published: dict[str, Any] = ok(
        await client.post(f"/api/v1/policy-versions/{draft['id']}/publish", json=publish, headers=admin)
    )
    return published


async def test_a_member_must_accept_the_published_policy_before_sharing(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    member = headers(issuer, org, Role.EMPLOYEE, subject="nina")
    assert (await check(client, member))["allowed"] is True

    draft = ok(await client.post("/api/v1/policy-versions", json=POLICY, headers=admin), 201)
    assert (draft["version"], draft["status"]) == (1, "draft")
    # A draft is invisible to members and asks nothing of them.
    ok(await client.get(f"/api/v1/policy-versions/{draft['id']}", headers=member), 404)
    assert (await check(client, member))["allowed"] is True
    published = ok(await client.post(f"/api/v1/policy-versions/{draft['id']}/publish", json={}, headers=admin))
    assert published["status"] == "published" and published["requires_acknowledgement"] is True

    result = await check(client, member)
    assert result["allowed"] is False
    assert result["violations"] == [
        {"code": "policy_not_acknowledged", "message": "Read and accept the social media policy (v1) before sharing."}
    ]
    status = ok(await client.get("/api/v1/policy-status", headers=member))
    assert (status["required"], status["acknowledged"], status["current"]["id"]) == (True, False, draft["id"])

    body = {"policy_version_id": draft["id"], "content_hash": published["content_hash"]}
    ack = ok(await client.post("/api/v1/policy-acknowledgements", json=body, headers=member), 201)
    assert (ack["member_subject"], ack["version"], ack["content_hash"]) == ("nina", 1, published["content_hash"])
    again = ok(await client.post("/api/v1/policy-acknowledgements", json=body, headers=member), 200)
    assert again == ack
    assert (await check(client, member))["allowed"] is True
    status = ok(await client.get("/api/v1/policy-status", headers=member))
    assert (status["acknowledged"], status["acknowledged_at"]) == (True, ack["acknowledged_at"])

    # A new version with the same text is already accepted (the acknowledgement is of the text)...
    v2 = await publish_policy(client, admin)
    assert v2["version"] == 2 and v2["content_hash"] == published["content_hash"]
    assert (await check(client, member))["allowed"] is True
    # ... a changed text asks again, with its own number.
    v3 = await publish_policy(client, admin, body=POLICY["body"] + "\n\nNever share a draft.")
    assert v3["version"] == 3
    violations = (await check(client, member))["violations"]
    assert violations[0]["message"] == "Read and accept the social media policy (v3) before sharing."
    # The superseded version can no longer be accepted.
    refused = ok(await client.post("/api/v1/policy-acknowledgements", json=body, headers=member), 409)
    assert refused["error"]["code"] == "policy_version_superseded"


async def test_a_member_cannot_acknowledge_for_someone_else(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    version = await publish_policy(client, admin)
    mallory = headers(issuer, org, Role.EMPLOYEE, Role.MANAGER, subject="mallory")
    for field in ("member_subject", "subject", "member_id"):
        body = {"policy_version_id": version["id"], field: "nina"}
        refused = ok(await client.post("/api/v1/policy-acknowledgements", json=body, headers=mallory), 422)
        assert refused["error"]["details"][0]["loc"] == ["body", field]
    nina = headers(issuer, org, Role.EMPLOYEE, subject="nina")
    assert (await check(client, nina))["allowed"] is False
    # A hash that is not the version's text: the member read something else.
    stale = {"policy_version_id": version["id"], "content_hash": "0" * 64}
    assert (
        ok(await client.post("/api/v1/policy-acknowledgements", json=stale, headers=nina), 409)["error"]["code"]
        == "policy_text_changed"
    )


async def test_a_targeted_version_asks_only_its_teams_and_progress_counts_them(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    teams = {}
    for name in ("Sales", "Engineering"):
        teams[name] = ok(await client.post("/api/v1/teams", json={"name": name}, headers=admin), 201)["id"]
    for subject, team in (("ada", "Sales"), ("bob", "Sales"), ("cy", "Engineering")):
        member = {
            "subject": subject,
            "email": f"{subject}@acme.example",
            "name": subject.title(),
            "roles": ["employee"],
        }
        ok(await client.post("/api/v1/members", json={**member, "team_id": teams[team]}, headers=admin), 201)
    other_org_team = ok(
        await client.post("/api/v1/teams", json={"name": "Sales"}, headers=headers(issuer, new_org(), Role.ADMIN)), 201
    )["id"]
    draft = ok(await client.post("/api/v1/policy-versions", json=POLICY, headers=admin), 201)
    publish = f"/api/v1/policy-versions/{draft['id']}/publish"
    ok(await client.post(publish, json={"team_ids": [other_org_team]}, headers=admin), 404)
    ok(await client.post(publish, json={"team_ids": [teams["Sales"]]}, headers=admin))
    assert ok(await client.post(publish, json={}, headers=admin), 409)["error"]["code"] == "already_published"

    ada = headers(issuer, org, Role.EMPLOYEE, subject="ada")
    cy = headers(issuer, org, Role.EMPLOYEE, subject="cy")
    assert (await check(client, ada))["allowed"] is False
    assert (await check(client, cy))["allowed"] is True
    assert ok(await client.get("/api/v1/policy-status", headers=cy))["required"] is False
    ok(await client.post("/api/v1/policy-acknowledgements", json={"policy_version_id": draft["id"]}, headers=ada), 201)

    progress = ok(await client.get(f"/api/v1/policy-versions/{draft['id']}/progress", headers=admin))
    assert progress == {
        "policy_version_id": draft["id"],
        "members": 2,
        "done": 1,
        "teams": [{"team_id": teams["Sales"], "team_name": "Sales", "members": 2, "done": 1}],
    }
    ok(await client.get(f"/api/v1/policy-versions/{draft['id']}/progress", headers=ada), 403)

    export = await client.get(f"/api/v1/policy-versions/{draft['id']}/acknowledgements.csv", headers=admin)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["member"], r["email"], r["name"], r["version"]) for r in rows] == [
        ("ada", "ada@acme.example", "Ada", "1")
    ]
    ok(await client.get(f"/api/v1/policy-versions/{draft['id']}/acknowledgements.csv", headers=ada), 403)


async def test_versions_listed_newest_first_and_drafts_for_admins_only(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    v1 = await publish_policy(client, admin)
    v2 = ok(await client.post("/api/v1/policy-versions", json=POLICY, headers=admin), 201)
    listed = ok(await client.get("/api/v1/policy-versions", headers=admin))["items"]
    assert [v["id"] for v in listed] == [v2["id"], v1["id"]]
    member = headers(issuer, org, Role.EMPLOYEE)
    assert [v["id"] for v in ok(await client.get("/api/v1/policy-versions", headers=member))["items"]] == [v1["id"]]
    ok(await client.post("/api/v1/policy-versions", json=POLICY, headers=member), 403)
    blank = ok(await client.post("/api/v1/policy-versions", json={"title": "T", "body": "  \n"}, headers=admin), 422)
    assert blank["error"]["details"][0]["loc"] == ["body", "body"]


async def test_a_network_that_requires_a_certification_asks_for_the_training(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    nina = headers(issuer, org, Role.EMPLOYEE, subject="nina")
    module = ok(await client.post("/api/v1/training-modules", json=MODULE, headers=admin), 201)
    assert module["required_for_networks"] == ["linkedin"]
    # The quiz as anyone reads it: never the correct options.
    for reader in (admin, nina):
        read = await client.get(f"/api/v1/training-modules/{module['id']}", headers=reader)
        assert read.status_code == 200 and "correct" not in read.text
        assert read.json()["questions"][1] == {
            "prompt": "Which are fine?",
            "options": ["Own words", "Secrets", "Public news"],
            "multiple": True,
        }
    listed = await client.get("/api/v1/training-modules", headers=nina)
    assert "correct" not in listed.text and listed.json()["items"][0]["id"] == module["id"]

    assert (await check(client, nina, "x"))["allowed"] is True
    assert (await check(client, nina, "linkedin"))["violations"] == [
        {
            "code": "certification_missing",
            "message": "Complete the training \u201cSharing on LinkedIn\u201d and pass its quiz before sharing.",
        }
    ]
    attempts = f"/api/v1/training-modules/{module['id']}/attempts"
    failed = ok(await client.post(attempts, json={"answers": [[1], [0]]}, headers=nina), 201)
    assert (failed["correct"], failed["total"], failed["score"], failed["passed"]) == (1, 2, 50, False)
    assert failed["certification"] is None and "correct_options" not in str(failed)
    assert (await check(client, nina, "linkedin"))["allowed"] is False

    passed = ok(await client.post(attempts, json={"answers": [[1], [2, 0]]}, headers=nina), 201)
    assert (passed["score"], passed["passed"], passed["answers"]) == (100, True, [[1], [0, 2]])
    assert passed["certification"]["expires_at"] is not None
    assert (await check(client, nina, "linkedin"))["allowed"] is True

    status = ok(await client.get("/api/v1/training-status", headers=nina))
    [mine] = status["modules"]
    assert (mine["attempts"], mine["best_score"], mine["certified"]) == (2, 100, True)
    progress = ok(await client.get(f"/api/v1/training-modules/{module['id']}/progress", headers=admin))
    assert (progress["members"], progress["done"]) == (0, 0)  # nina is not on the roster


async def test_quiz_answers_are_their_authors_alone(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    module = ok(await client.post("/api/v1/training-modules", json=MODULE, headers=admin), 201)
    nina = headers(issuer, org, Role.EMPLOYEE, subject="nina")
    attempt = ok(
        await client.post(
            f"/api/v1/training-modules/{module['id']}/attempts", json={"answers": [[0], [1]]}, headers=nina
        ),
        201,
    )
    assert ok(await client.get(f"/api/v1/quiz-attempts/{attempt['id']}", headers=nina))["answers"] == [[0], [1]]
    for someone_else in (headers(issuer, org, Role.EMPLOYEE, subject="bob"), admin):
        refused = ok(await client.get(f"/api/v1/quiz-attempts/{attempt['id']}", headers=someone_else), 404)
        assert refused["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("answers", "loc"),
    [
        ([[1]], ["body", "answers"]),
        ([[1], []], ["body", "answers", 1]),
        ([[5], [0]], ["body", "answers", 0]),
        ([[1], [0, 0]], ["body", "answers", 1]),
    ],
)
async def test_an_answer_sheet_that_does_not_fit_is_a_422(
    client: httpx.AsyncClient, issuer: Issuer, answers: list[list[int]], loc: list[Any]
) -> None:
    org = new_org()
    module = ok(
        await client.post("/api/v1/training-modules", json=MODULE, headers=headers(issuer, org, Role.ADMIN)), 201
    )
    nina = headers(issuer, org, Role.EMPLOYEE, subject="nina")
    url = f"/api/v1/training-modules/{module['id']}/attempts"
    refused = ok(await client.post(url, json={"answers": answers}, headers=nina), 422)
    assert refused["error"]["code"] == "validation_failed" and refused["error"]["details"][0]["loc"] == loc
    assert ok(await client.get("/api/v1/training-status", headers=nina))["modules"][0]["attempts"] == 0


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"pass_mark": 0}, ["body", "pass_mark"]),
        ({"required_for_networks": ["myspace"]}, ["body", "required_for_networks", 0]),
        ({"questions": [{"prompt": "?", "options": ["a", "b"], "correct_options": [2]}]}, ["body", "questions", 0]),
        ({"lessons": []}, ["body", "lessons"]),
    ],
)
async def test_a_module_that_cannot_work_is_refused(
    client: httpx.AsyncClient, issuer: Issuer, change: dict[str, Any], loc: list[Any]
) -> None:
    admin = headers(issuer, new_org(), Role.ADMIN)
    refused = ok(await client.post("/api/v1/training-modules", json={**MODULE, **change}, headers=admin), 422)
    assert refused["error"]["details"][0]["loc"] == loc


async def test_another_orgs_policy_and_module_are_unknown(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    version = await publish_policy(client, admin)
    module = ok(await client.post("/api/v1/training-modules", json=MODULE, headers=admin), 201)
    stranger = headers(issuer, new_org(), *Role, subject="nina")
    body = {"policy_version_id": version["id"]}
    ok(await client.post("/api/v1/policy-acknowledgements", json=body, headers=stranger), 404)
    ok(await client.get(f"/api/v1/training-modules/{module['id']}", headers=stranger), 404)
    url = f"/api/v1/training-modules/{module['id']}/attempts"
    ok(await client.post(url, json={"answers": [[1], [0, 2]]}, headers=stranger), 404)
    # The other org's policy asks nothing of this org's members.
    assert (await check(client, stranger, "linkedin"))["allowed"] is True
    assert uuid.UUID(version["id"])


async def test_targeting_reads_every_roster_team_and_progress_leaves_out_the_deactivated(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    """The roster gives a member several teams: a version targeted at the second of them asks that member
    too. A member the kill-switch has stopped is no longer counted as still to accept."""
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin")
    roster_csv = (
        "email,name,teams\n"
        "ann@acme.example,Ann,Sales;Leadership\n"
        "carl@acme.example,Carl,Sales\n"
        "dan@acme.example,Dan,Leadership\n"
    )
    imported = await client.post(
        "/api/v1/roster/imports",
        params={"dry_run": "false"},
        content=roster_csv.encode(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert ok(imported)["created"] == 3
    teams = {t["name"]: t["id"] for t in ok(await client.get("/api/v1/teams", headers=admin))["items"]}
    members = {m["subject"]: m for m in ok(await client.get("/api/v1/roster/members", headers=admin))["items"]}
    assert members["ann@acme.example"]["team_ids"][1:] == [teams["Leadership"]], "Leadership is not Ann's first team"
    version = await publish_policy(client, admin, team_ids=[teams["Leadership"]])

    ann = headers(issuer, org, Role.EMPLOYEE, subject="ann@acme.example")
    carl = headers(issuer, org, Role.EMPLOYEE, subject="carl@acme.example")
    assert (await check(client, ann))["allowed"] is False
    assert ok(await client.get("/api/v1/policy-status", headers=ann))["required"] is True
    assert (await check(client, carl))["allowed"] is True

    progress = f"/api/v1/policy-versions/{version['id']}/progress"
    assert ok(await client.get(progress, headers=admin))["members"] == 2
    dan = members["dan@acme.example"]["id"]
    ok(await client.post(f"/api/v1/roster/members/{dan}/deactivate", headers=admin))
    assert ok(await client.get(progress, headers=admin)) == {
        "policy_version_id": version["id"],
        "members": 1,
        "done": 0,
        "teams": [{"team_id": teams["Leadership"], "team_name": "Leadership", "members": 1, "done": 0}],
    }

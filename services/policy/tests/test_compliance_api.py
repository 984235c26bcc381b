"""The compliance rules' REST API on the real service: admins write, reviewers and admins read, a rule
that cannot work is a 422 with the reason and saves nothing; the live check and the decision judge with
the rules saved."""

import uuid
from typing import Any

import httpx
import pytest

from condividi.contracts.policy_pb2 import DecisionOutcome
from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.events import new_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer
from services.policy.tests.conftest import headers, new_org
from services.policy.tests.test_share_decisions import produce, wait_for_decision

pytestmark = pytest.mark.asyncio(loop_scope="package")

RULES = "/api/v1/compliance/rules"

ONE_OF_EACH: list[dict[str, Any]] = [
    {"kind": "phrases", "action": "reject", "phrases": ["garantito", "risk-free"]},
    {"kind": "pattern", "action": "review", "pattern": r"\d+\s?%", "message": "Returns need a reviewer."},
    {"kind": "disclosure", "action": "review"},
    {"kind": "links", "action": "reject", "blocked_domains": ["Competitor.com"]},
    {"kind": "hashtags", "action": "warn", "max_hashtags": 3, "forbidden_hashtags": ["crypto"]},
    {
        "kind": "quiet_period",
        "action": "review",
        "starts_on": "2027-01-20",
        "ends_on": "2027-02-05",
        "time_zone": "Europe/Rome",
    },
    {"kind": "cap", "action": "reject", "max_shares": 5, "period": "day", "per_network": True},
    {"kind": "personal_touch", "action": "review", "minimum_personal_touch": 0.2, "network": "linkedin"},
]


async def test_admins_write_every_kind_and_reviewers_read_them(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin-1")
    created = []
    for body in ONE_OF_EACH:
        response = await client.post(RULES, json=body, headers=admin)
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert created[3]["blocked_domains"] == ["competitor.com"]  # domains are kept lower-cased
    assert created[4]["phrases"] is None and created[4]["max_hashtags"] == 3
    assert created[0]["created_by"] == "admin-1"

    reviewer = headers(issuer, org, Role.REVIEWER)
    listed = await client.get(RULES, headers=reviewer)
    assert listed.status_code == 200
    assert [r["kind"] for r in listed.json()["items"]] == [b["kind"] for b in ONE_OF_EACH]
    quiet = await client.get(RULES, params={"kind": "quiet_period"}, headers=reviewer)
    assert [r["id"] for r in quiet.json()["items"]] == [created[5]["id"]]
    one = await client.get(f"{RULES}/{created[1]['id']}", headers=reviewer)
    assert one.json() == created[1]

    # Employees neither read nor write the rules; reviewers do not write them.
    employee = headers(issuer, org, Role.EMPLOYEE)
    assert (await client.get(RULES, headers=employee)).status_code == 403
    assert (await client.post(RULES, json=ONE_OF_EACH[0], headers=reviewer)).status_code == 403

    replaced = await client.put(
        f"{RULES}/{created[0]['id']}", json={"kind": "phrases", "action": "warn", "phrases": ["sicuro"]}, headers=admin
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["action"], replaced.json()["phrases"]) == ("warn", ["sicuro"])
    assert (await client.delete(f"{RULES}/{created[0]['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{RULES}/{created[0]['id']}", headers=admin)).status_code == 404
    # Another org sees none of them.
    stranger = headers(issuer, new_org(), Role.ADMIN)
    assert (await client.get(f"{RULES}/{created[1]['id']}", headers=stranger)).status_code == 404
    assert (await client.get(RULES, headers=stranger)).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "loc", "reason"),
    [
        ({"kind": "phrases", "action": "reject", "phrases": [""]}, ["body", "phrases", 0], "empty"),
        ({"kind": "phrases", "action": "reject", "phrases": ["ok", "  "]}, ["body", "phrases", 1], "empty"),
        ({"kind": "pattern", "action": "reject", "pattern": "([a-z"}, ["body", "pattern"], "does not compile"),
        ({"kind": "pattern", "action": "reject", "pattern": "(x+x+)+y"}, ["body", "pattern"], "runs too long"),
        ({"kind": "pattern", "action": "review", "pattern": ".*"}, ["body", "pattern"], "empty text"),
        ({"kind": "pattern", "action": "reject", "pattern": r"\S"}, ["body", "pattern"], "block everything"),
        (
            {
                "kind": "quiet_period",
                "action": "reject",
                "starts_on": "2000-01-01",
                "ends_on": "2099-12-31",
                "time_zone": "UTC",
            },
            ["body", "ends_on"],
            "block everything",
        ),
        (
            {"kind": "cap", "action": "reject", "max_shares": 0, "period": "day"},
            ["body", "max_shares"],
            "block everything",
        ),
        ({"kind": "phrases", "action": "reject"}, ["body", "phrases"], "needs phrases"),
        ({"kind": "phrases", "action": "reject", "phrases": ["x1"], "pattern": "a"}, ["body", "pattern"], "takes no"),
        ({"kind": "links", "action": "reject"}, ["body", "allowed_domains"], "checks nothing"),
    ],
)
async def test_a_rule_that_cannot_work_is_refused_with_the_reason_and_nothing_is_saved(
    client: httpx.AsyncClient, issuer: Issuer, body: dict[str, Any], loc: list[str | int], reason: str
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    response = await client.post(RULES, json=body, headers=admin)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"] == loc
    assert reason in error["details"][0]["message"]
    assert (await client.get(RULES, headers=admin)).json()["items"] == []


async def test_overlapping_quiet_periods_are_refused_on_create_and_on_replace(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    admin = headers(issuer, new_org(), Role.ADMIN)
    period = {"kind": "quiet_period", "action": "reject", "time_zone": "Europe/Rome"}
    first = await client.post(RULES, json={**period, "starts_on": "2027-03-01", "ends_on": "2027-03-10"}, headers=admin)
    second = await client.post(
        RULES, json={**period, "starts_on": "2027-04-01", "ends_on": "2027-04-10"}, headers=admin
    )
    assert (first.status_code, second.status_code) == (201, 201)
    overlapping = await client.post(
        RULES, json={**period, "starts_on": "2027-03-08", "ends_on": "2027-03-12"}, headers=admin
    )
    assert overlapping.status_code == 422
    assert "overlaps the quiet period 2027-03-01 to 2027-03-10" in overlapping.json()["error"]["message"]
    moved = await client.put(
        f"{RULES}/{second.json()['id']}",
        json={**period, "starts_on": "2027-03-05", "ends_on": "2027-04-10"},
        headers=admin,
    )
    assert moved.status_code == 422
    # Nothing changed: the second period is where it was.
    unchanged = await client.get(f"{RULES}/{second.json()['id']}", headers=admin)
    assert unchanged.json()["starts_on"] == "2027-04-01"


async def test_a_team_of_another_org_is_not_found(client: httpx.AsyncClient, issuer: Issuer) -> None:
    other = headers(issuer, new_org(), Role.ADMIN)
    team = (await client.post("/api/v1/teams", json={"name": "Finance"}, headers=other)).json()
    admin = headers(issuer, new_org(), Role.ADMIN)
    body = {"kind": "phrases", "action": "reject", "phrases": ["garantito"], "team_id": team["id"]}
    response = await client.post(RULES, json=body, headers=admin)
    assert response.status_code == 404
    assert response.json()["error"]["details"][0]["loc"] == ["body", "team_id"]
    assert (await client.post(RULES, json=body, headers=other)).status_code == 201


async def test_the_live_check_returns_every_finding_with_its_action_and_span(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    for body in (ONE_OF_EACH[0], ONE_OF_EACH[1], ONE_OF_EACH[4]):
        assert (await client.post(RULES, json=body, headers=admin)).status_code == 201
    text = "🚀 Rendimento GARANTITÒ del 7 % #crypto"
    response = await client.post(
        "/api/v1/policy-checks", json={"network": "linkedin", "text": text}, headers=headers(issuer, org, Role.EMPLOYEE)
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["allowed"], result["outcome"]) == (False, "rejected")
    found = [(f["code"], f["action"], f["start"], f["end"]) for f in result["findings"]]
    # Offsets in UTF-16 code units: the rocket counts 2.
    assert found == [
        ("phrase_found", "reject", 14, 23),
        ("pattern_found", "review", 28, 31),
        ("hashtag_forbidden", "warn", 32, 39),
    ]
    units = text.encode("utf-16-le")
    assert [units[2 * s : 2 * e].decode("utf-16-le") for _, _, s, e in found] == ["GARANTITÒ", "7 %", "#crypto"]
    assert result["findings"][1]["message"] == "Returns need a reviewer."
    # ``violations`` keeps its meaning: what stops or holds the post, warnings left out.
    assert [v["code"] for v in result["violations"]] == ["phrase_found", "pattern_found"]


async def test_the_check_judges_the_disclosure_and_personal_touch_it_is_given(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    assert (await client.post(RULES, json=ONE_OF_EACH[7], headers=admin)).status_code == 201
    employee = headers(issuer, org, Role.EMPLOYEE)
    body = {"network": "linkedin", "text": "Nice", "required_disclosure": "#ad", "personal_touch": 0.1}
    result = (await client.post("/api/v1/policy-checks", json=body, headers=employee)).json()
    # No disclosure rule: a missing disclosure rejects; the personal-touch rule sends to review.
    assert [(f["code"], f["action"]) for f in result["findings"]] == [
        ("personal_touch_low", "review"),
        ("disclosure_missing", "reject"),
    ]
    fine = {**body, "text": "Nice #ad", "personal_touch": 0.5}
    assert (await client.post("/api/v1/policy-checks", json=fine, headers=employee)).json()["outcome"] == "approved"


def _share(org: uuid.UUID, share_id: str, text: str, **fields: Any) -> Any:
    payload = ShareRequested(
        share_id=share_id,
        member_id="employee-1",
        content_id=str(uuid.uuid4()),
        network="linkedin",
        text=text,
        url="https://go.acme.example/r/abc123",
        **fields,
    )
    return new_envelope(payload, org_id=org, aggregate_id=share_id, producer="sharing")


async def test_the_decision_applies_the_rules_review_reject_disclosure_and_caps(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    for body in (
        {"kind": "phrases", "action": "review", "phrases": ["outperform"]},
        {"kind": "disclosure", "action": "review"},
        {"kind": "personal_touch", "action": "reject", "minimum_personal_touch": 0.3},
        {"kind": "cap", "action": "reject", "max_shares": 3, "period": "day"},
    ):
        assert (await client.post(RULES, json=body, headers=admin)).status_code == 201, body
    cases = [
        ("We will outperform #ad", {"required_disclosure": "#ad"}, DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW),
        ("Proud of the team", {"required_disclosure": "#ad"}, DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW),
        ("Proud of the team", {"personal_touch": 0.1}, DecisionOutcome.DECISION_OUTCOME_REJECTED),
        ("Proud of the team", {"personal_touch": 0.9}, DecisionOutcome.DECISION_OUTCOME_APPROVED),
        # Three let through already (two sent to review, one approved; the rejected one does not count), so
        # the next is over the daily cap.
        ("Proud again", {}, DecisionOutcome.DECISION_OUTCOME_REJECTED),
    ]
    for text, fields, outcome in cases:
        share_id = str(uuid.uuid4())
        await produce(infra, _share(org, share_id, text, **fields))
        decision = await wait_for_decision(infra, share_id)
        assert decision.payload.outcome == outcome, (text, fields, list(decision.payload.violations))
    assert [v.code for v in decision.payload.violations] == ["cap_reached"]
    assert "You can share again from" in decision.payload.violations[0].message
    readable = await client.get(f"/api/v1/share-decisions/{share_id}", headers=admin)
    assert readable.json()["findings"][0]["action"] == "reject"

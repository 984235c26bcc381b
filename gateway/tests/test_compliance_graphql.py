"""The compliance rules through GraphQL, against the stand-ins (which run the policy service's own rule
functions): admins create, replace and delete rules, reviewers read them, a rule that cannot work comes
back as a ValidationError at its field, and checkPost shows every finding with its action and span."""

from __future__ import annotations

from typing import Any

from condividi.identity import Role
from condividi.testing import Issuer
from gateway.tests.conftest import ORG, Gql
from gateway.tests.fakes import Downstream

CREATE = """mutation($input: CreateComplianceRuleInput!) {
  createComplianceRule(input: $input) {
    complianceRule { id kind action message network phrases pattern startsOn endsOn timeZone teamId }
    errors { __typename message path ... on ValidationError { code } }
  }
}"""
REPLACE = """mutation($input: ReplaceComplianceRuleInput!) {
  replaceComplianceRule(input: $input) {
    complianceRule { id kind action phrases }
    errors { __typename message path }
  }
}"""
DELETE = """mutation($input: DeleteComplianceRuleInput!) {
  deleteComplianceRule(input: $input) { deletedId errors { __typename message path } }
}"""
RULES = "{ complianceRules(first: 10) { edges { node { id kind action } } } }"
CHECK = """query($text: String!) { checkPost(network: LINKEDIN, text: $text) {
  allowed outcome violations { code } findings { code message action start end ruleId } } }"""


def as_role(issuer: Issuer, role: Role) -> dict[str, str]:
    return issuer.headers(org=ORG, roles=[role], subject=f"{role.value}-1")


async def create(gql: Gql, issuer: Issuer, rule: dict[str, Any]) -> dict[str, Any]:
    body = await gql(CREATE, {"input": {"rule": rule}}, headers=as_role(issuer, Role.ADMIN))
    payload: dict[str, Any] = body["data"]["createComplianceRule"]
    return payload


async def test_admins_manage_rules_and_reviewers_read_them(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    made = await create(gql, issuer, {"kind": "PHRASES", "action": "REJECT", "phrases": ["garantito"]})
    assert made["errors"] == []
    rule = made["complianceRule"]
    assert (rule["kind"], rule["action"], rule["phrases"], rule["pattern"]) == (
        "PHRASES",
        "REJECT",
        ["garantito"],
        None,
    )
    quiet = await create(
        gql,
        issuer,
        {
            "kind": "QUIET_PERIOD",
            "action": "REVIEW",
            "startsOn": "2027-01-20",
            "endsOn": "2027-02-05",
            "timeZone": "Europe/Rome",
        },
    )
    assert quiet["complianceRule"]["startsOn"] == "2027-01-20"

    listed = await gql(RULES, headers=as_role(issuer, Role.REVIEWER))
    assert [e["node"]["kind"] for e in listed["data"]["complianceRules"]["edges"]] == ["PHRASES", "QUIET_PERIOD"]
    # An employee reads no rules: null, as for anything not theirs to see.
    assert (await gql(RULES, headers=as_role(issuer, Role.EMPLOYEE)))["data"]["complianceRules"] is None
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on ComplianceRule { kind } } }",
        {"id": rule["id"]},
        headers=as_role(issuer, Role.REVIEWER),
    )
    assert node["data"]["node"] == {"kind": "PHRASES"}

    replaced = await gql(
        REPLACE,
        {"input": {"id": rule["id"], "rule": {"kind": "PHRASES", "action": "WARN", "phrases": ["sicuro"]}}},
        headers=as_role(issuer, Role.ADMIN),
    )
    assert replaced["data"]["replaceComplianceRule"]["complianceRule"]["phrases"] == ["sicuro"]
    deleted = await gql(DELETE, {"input": {"id": rule["id"]}}, headers=as_role(issuer, Role.ADMIN))
    assert deleted["data"]["deleteComplianceRule"] == {"deletedId": rule["id"], "errors": []}
    again = await gql(DELETE, {"input": {"id": rule["id"]}}, headers=as_role(issuer, Role.ADMIN))
    assert [e["__typename"] for e in again["data"]["deleteComplianceRule"]["errors"]] == ["NotFoundError"]


async def test_a_rule_that_cannot_work_is_a_validation_error_at_its_field(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    cases = [
        ({"kind": "PHRASES", "action": "REJECT", "phrases": ["ok", " "]}, ["input", "rule", "phrases", "1"], "empty"),
        ({"kind": "PATTERN", "action": "REJECT", "pattern": "([a-z"}, ["input", "rule", "pattern"], "does not compile"),
        ({"kind": "PATTERN", "action": "REJECT", "pattern": "(x+x+)+y"}, ["input", "rule", "pattern"], "too long"),
        ({"kind": "PATTERN", "action": "REJECT", "pattern": "a|"}, ["input", "rule", "pattern"], "empty text"),
        ({"kind": "PHRASES", "action": "REJECT"}, ["input", "rule", "phrases"], "needs phrases"),
        ({"kind": "CAP", "action": "REJECT", "maxShares": 0, "period": "DAY"}, ["input", "rule", "maxShares"], "block"),
    ]
    for rule, path, reason in cases:
        payload = await create(gql, issuer, rule)
        assert payload["complianceRule"] is None, rule
        error = payload["errors"][0]
        assert (error["__typename"], error["path"]) == ("ValidationError", path), (rule, payload)
        assert reason in error["message"], (rule, error)
    assert downstream.compliance_rules == {}
    period = {"kind": "QUIET_PERIOD", "action": "REJECT", "timeZone": "UTC"}
    assert (await create(gql, issuer, {**period, "startsOn": "2027-03-01", "endsOn": "2027-03-10"}))["errors"] == []
    overlap = await create(gql, issuer, {**period, "startsOn": "2027-03-05", "endsOn": "2027-03-20"})
    assert overlap["errors"][0]["path"] == ["input", "rule", "startsOn"]
    assert "overlaps" in overlap["errors"][0]["message"]
    bad_team = await create(gql, issuer, {"kind": "PHRASES", "action": "WARN", "phrases": ["x1"], "teamId": "nope"})
    assert bad_team["errors"][0]["path"] == ["input", "rule", "teamId"]


async def test_check_post_shows_every_finding_with_its_action_and_span(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    rule = (await create(gql, issuer, {"kind": "PHRASES", "action": "REVIEW", "phrases": ["garantito"]}))[
        "complianceRule"
    ]
    await create(gql, issuer, {"kind": "HASHTAGS", "action": "WARN", "maxHashtags": 0})
    checked = await gql(CHECK, {"text": "😀 Rendimento GARANTITÒ #acme"})
    result = checked["data"]["checkPost"]
    # A review does not refuse the post (the share goes to a reviewer), but it is not plainly allowed.
    assert (result["allowed"], result["outcome"]) == (False, "NEEDS_REVIEW")
    assert [v["code"] for v in result["violations"]] == ["phrase_found"]
    assert result["findings"] == [
        {"code": "phrase_found", "message": "“garantito” is not allowed in a post.", "action": "REVIEW",
         "start": 14, "end": 23, "ruleId": rule["id"]},
        {"code": "too_many_hashtags", "message": "At most 0 hashtags; the post has 1.", "action": "WARN",
         "start": 24, "end": 29, "ruleId": result["findings"][1]["ruleId"]},
    ]  # fmt: skip

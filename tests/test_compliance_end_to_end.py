"""Compliance rules deciding shares, end to end through the five real processes: an admin configures a
review phrase and a reject pattern in GraphQL; a post meeting the review rule goes through the live check
and waits in NEEDS_REVIEW once policy has decided; a post meeting the reject rule is refused by the live
check and, submitted straight to sharing, rejected by policy's decision with the same reason and span."""

from __future__ import annotations

import uuid

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem
from gateway.relay import to_global_id
from tests.test_slice import graphql, publish_article, raw_id, settled, share, submit

CREATE = """mutation($input: CreateComplianceRuleInput!) {
  createComplianceRule(input: $input) { complianceRule { id } errors { __typename message path } } }"""
DECISION = """query($id: ID!) { node(id: $id) { ... on ShareDecision {
  outcome violations { code message } findings { code action start end ruleId } } } }"""
REVIEW_MESSAGE = "A forward-looking claim: a reviewer reads it first."
REJECT_MESSAGE = "No promised returns in posts."


def test_a_review_rule_holds_a_share_and_a_reject_rule_refuses_one(system: RunningSystem) -> None:
    org = uuid.uuid4()
    item_id = publish_article(system, org)
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="admin-compliance")
    member = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-compliance")
    review = {"kind": "PHRASES", "action": "REVIEW", "phrases": ["outperform"], "message": REVIEW_MESSAGE}
    reject = {
        "kind": "PATTERN",
        "action": "REJECT",
        "pattern": r"\d+\s?% (?:guaranteed|garantito)",
        "message": REJECT_MESSAGE,
    }
    rule_ids = []
    for rule in (review, reject):
        created = graphql(system, CREATE, admin, input={"rule": rule})["data"]["createComplianceRule"]
        assert created["errors"] == [], created
        rule_ids.append(created["complianceRule"]["id"])

    # Review: the live check lets it through to a person; policy's decision holds it.
    held = share(system, member, item_id, "We will OUTPERFORM our targets this year 🌞")
    state = settled(system, member, held["id"])
    assert state["status"] == "NEEDS_REVIEW", state
    assert state["violations"] == [{"code": "phrase_found", "message": REVIEW_MESSAGE}]
    # The decision names the rule and where in the text (UTF-16 offsets) it met the post.
    decided = graphql(system, DECISION, member, id=to_global_id("ShareDecision", raw_id(held["id"])))["data"]["node"]
    assert decided["outcome"] == "NEEDS_REVIEW"
    assert decided["findings"] == [
        {"code": "phrase_found", "action": "REVIEW", "start": 8, "end": 18, "ruleId": rule_ids[0]}
    ]

    # Reject: the live check refuses it before anything is recorded...
    text = "Returns of 12% guaranteed, join us"
    refused = submit(system, member, item_id, text)
    assert [e["__typename"] for e in refused["errors"]] == ["PolicyRejectedError"]
    assert refused["errors"][0]["violations"] == [{"code": "pattern_found", "message": REJECT_MESSAGE}]
    # ...and a share submitted straight to sharing (an integrator, an old client) is rejected by the decision
    # (to LinkedIn: the share held for review is still the member's share of the item on X).
    direct = httpx.post(
        f"{system.urls['sharing']}/api/v1/shares",
        json={"content_id": item_id, "network": "linkedin", "text": text},
        headers=member,
        timeout=15,
    )
    assert direct.status_code == 202, direct.text
    rejected = settled(system, member, to_global_id("Share", direct.json()["id"]))
    assert rejected["status"] == "REJECTED"
    assert rejected["violations"] == [{"code": "pattern_found", "message": REJECT_MESSAGE}]

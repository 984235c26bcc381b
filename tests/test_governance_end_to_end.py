"""The social-media policy gating shares, end to end through the five real processes: an admin publishes
a policy in GraphQL; a member who has not accepted it has a share rejected by policy's decision with the
reason (and is told the same by the live check); once they accept it in GraphQL, their next share is
approved and published."""

from __future__ import annotations

import uuid

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem
from gateway.relay import to_global_id
from tests.test_slice import graphql, publish_article, settled, share, submit

DRAFT = """mutation($input: DraftPolicyVersionInput!) {
  draftPolicyVersion(input: $input) { policyVersion { id contentHash } errors { __typename message } } }"""
PUBLISH = """mutation($input: PublishPolicyVersionInput!) {
  publishPolicyVersion(input: $input) { policyVersion { version status } errors { __typename message } } }"""
ACKNOWLEDGE = """mutation($input: AcknowledgePolicyInput!) {
  acknowledgePolicy(input: $input) { acknowledgement { version contentHash } errors { __typename message } } }"""
ACCEPT_V1 = "Read and accept the social media policy (v1) before sharing."


def test_a_member_shares_only_after_accepting_the_published_policy(system: RunningSystem) -> None:
    org = uuid.uuid4()
    item_id = publish_article(system, org)
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="admin-governance")
    member = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-governance")

    drafted = graphql(system, DRAFT, admin, input={"title": "Social media policy", "body": "# Be yourself"})
    version = drafted["data"]["draftPolicyVersion"]["policyVersion"]
    published = graphql(system, PUBLISH, admin, input={"id": version["id"]})
    assert published["data"]["publishPolicyVersion"] == {
        "policyVersion": {"version": 1, "status": "PUBLISHED"},
        "errors": [],
    }

    # A share submitted to sharing (as an integrator or an old client would) is decided by policy: rejected,
    # with what to do.
    direct = httpx.post(
        f"{system.urls['sharing']}/api/v1/shares",
        json={"content_id": item_id, "network": "x", "text": "Our first solar plant, proud of the team"},
        headers=member,
        timeout=15,
    )
    assert direct.status_code == 202, direct.text
    state = settled(system, member, to_global_id("Share", direct.json()["id"]))
    assert state["status"] == "REJECTED"
    assert state["violations"] == [{"code": "policy_not_acknowledged", "message": ACCEPT_V1}]
    # Through the gateway the live check says the same before anything is recorded.
    refused = submit(system, member, item_id, "Our first solar plant, proud of the team")
    assert [e["__typename"] for e in refused["errors"]] == ["PolicyRejectedError"]
    assert refused["errors"][0]["violations"] == [{"code": "policy_not_acknowledged", "message": ACCEPT_V1}]

    accepted = graphql(
        system, ACKNOWLEDGE, member, input={"policyVersionId": version["id"], "contentHash": version["contentHash"]}
    )
    assert accepted["data"]["acknowledgePolicy"] == {
        "acknowledgement": {"version": 1, "contentHash": version["contentHash"]},
        "errors": [],
    }
    status = graphql(system, "{ me { policy { required acknowledged } } }", member)
    assert status["data"]["me"]["policy"] == {"required": True, "acknowledged": True}

    approved = settled(system, member, share(system, member, item_id, "Our first solar plant, proud of the team")["id"])
    assert approved["status"] == "PUBLISHED" and approved["violations"] == []

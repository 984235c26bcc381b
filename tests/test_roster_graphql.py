"""The roster's provisioning tokens through the gateway on the real stack: issued and rotated in
GraphQL, the secret shown once, used by an identity provider on policy's /scim/v2, and another org's
token unreachable."""

from __future__ import annotations

import uuid

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem
from tests.test_slice import graphql

ISSUE = """mutation($input: IssueProvisioningTokenInput!) {
  issueProvisioningToken(input: $input) {
    issued { token replacedId provisioningToken { id hint revokedAt } }
    errors { __typename message path } } }"""
TOKENS = "{ provisioningTokens(first: 10) { edges { node { id hint revokedAt } } } }"
NODE = """query($id: ID!) { node(id: $id) { id ... on ProvisioningToken { hint } } }"""


def scim_users(system: RunningSystem, token: str) -> int:
    answer = httpx.get(
        f"{system.urls['policy']}/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code


def test_an_admin_issues_and_rotates_a_provisioning_token_in_graphql(system: RunningSystem) -> None:
    org = uuid.uuid4()
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="token-admin")
    first = graphql(system, ISSUE, admin, input={})["data"]["issueProvisioningToken"]
    assert first["errors"] == [] and first["issued"]["replacedId"] is None
    issued = first["issued"]
    assert issued["token"].endswith(issued["provisioningToken"]["hint"])
    assert scim_users(system, issued["token"]) == 200

    listed = graphql(system, TOKENS, admin)["data"]["provisioningTokens"]["edges"]
    assert [e["node"] for e in listed] == [issued["provisioningToken"]]
    token_id = issued["provisioningToken"]["id"]
    assert graphql(system, NODE, admin, id=token_id)["data"]["node"]["hint"] == issued["provisioningToken"]["hint"]
    stranger = system.issuer.headers(org=uuid.uuid4(), roles=[Role.ADMIN], subject="other-admin")
    assert graphql(system, NODE, stranger, id=token_id)["data"]["node"] is None

    rotated = graphql(system, ISSUE, admin, input={"replaces": token_id})["data"]["issueProvisioningToken"]
    assert rotated["errors"] == [] and rotated["issued"]["token"] != issued["token"]
    assert rotated["issued"]["replacedId"] == token_id
    assert scim_users(system, issued["token"]) == 401
    assert scim_users(system, rotated["issued"]["token"]) == 200

    again = graphql(system, ISSUE, admin, input={"replaces": token_id})["data"]["issueProvisioningToken"]
    assert [e["__typename"] for e in again["errors"]] == ["ConflictError"] and again["issued"] is None
    theirs = graphql(system, ISSUE, stranger, input={"replaces": rotated["issued"]["provisioningToken"]["id"]})
    assert [e["__typename"] for e in theirs["data"]["issueProvisioningToken"]["errors"]] == ["NotFoundError"]
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="token-employee")
    refused = graphql(system, ISSUE, employee, input={})["data"]["issueProvisioningToken"]
    assert [e["__typename"] for e in refused["errors"]] == ["PermissionDeniedError"]
    bad = graphql(system, ISSUE, admin, input={"replaces": "not-a-global-id"})["data"]["issueProvisioningToken"]
    assert [(e["__typename"], e["path"]) for e in bad["errors"]] == [("ValidationError", ["input", "replaces"])]

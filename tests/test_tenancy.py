"""Tenancy on the REST side: every route of the four services that takes an id (in its path, its query or
its body) answers another org's id exactly as it answers an id that does not exist: 404 (or, for a
list or a batch, the object left out), never 403 because of the object, never the object itself, and
without touching it.

The routes are read from the services' OpenAPI documents, so a new route that takes an id fails
``test_every_route_that_takes_an_id_has_a_tenancy_case`` until a case below says how to make an object
of another org for it; the case then runs against the real services (PostgreSQL, the broker)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from condividi.identity import Role
from condividi.testing import RunningSystem
from services.content.main import build_app as build_content
from services.metrics.main import build_app as build_metrics
from services.policy.main import build_app as build_policy
from services.sharing.main import build_app as build_sharing
from tests.tenancy import COMPLIANCE_RULE, ROLE_SETS, OrgA, Request, make_org_a, new_member, role_names

SERVICES: dict[str, Callable[[], FastAPI]] = {
    "content": build_content,
    "policy": build_policy,
    "sharing": build_sharing,
    "metrics": build_metrics,
}
METHODS = {"get", "put", "post", "delete", "patch"}


def _is_id(name: str) -> bool:
    return name.endswith(("_id", "_ids"))


def routes_taking_an_id() -> Iterator[tuple[str, str, str]]:
    """(service, METHOD, path template) of every operation with an id in its path, query or body."""
    for service, build in SERVICES.items():
        document = build().openapi()
        schemas = document["components"]["schemas"]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method not in METHODS:
                    continue
                names = [p["name"] for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                ref = body.get("schema", {}).get("$ref", "")
                if ref:
                    names += list(schemas[ref.rsplit("/", 1)[1]].get("properties", {}))
                if "{" in path or any(_is_id(name) for name in names):
                    yield service, method.upper(), path


@dataclass(frozen=True)
class Case:
    service: str
    owned: Callable[[OrgA], str]  # the id of org A's object this route takes
    request: Callable[[str], Request]  # the request for an id
    owner: str  # which of org A's callers may use the route on its object (proves the object is real)
    # A list or a batch answers 200 and leaves out what the caller may not see, rather than a 404.
    listed: bool = False
    # How org A's answer shows the object was used, where the answer does not name it (the live check
    # judges with the rules of the campaign it is given, and names the rule, not the campaign).
    proves: Callable[[dict[str, Any]], bool] | None = None


def _campaign_and_item(value: str) -> Request:
    # Two ids in one path: "<campaign>/<item>" for org A's pair, one unknown id for both otherwise.
    campaign, _, item = value.partition("/")
    return Request(f"/api/v1/campaigns/{campaign}/items/{item or campaign}")


CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/feed"): Case(
        "content",
        lambda a: a.campaign,
        lambda i: Request("/api/v1/feed", params={"campaign_id": i}),
        "employee",
        listed=True,
    ),
    ("PUT", "/api/v1/content-items/{item_id}/audience"): Case(
        "content",
        lambda a: a.published_item,
        lambda i: Request(f"/api/v1/content-items/{i}/audience", json={"audience": {}}),
        "curator",
    ),
    ("GET", "/api/v1/campaigns/{campaign_id}"): Case(
        "content", lambda a: a.campaign, lambda i: Request(f"/api/v1/campaigns/{i}"), "curator"
    ),
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): Case(
        "content",
        lambda a: a.campaign,
        lambda i: Request(f"/api/v1/campaigns/{i}", json={"goal": "Tenancy"}),
        "curator",
    ),
    ("POST", "/api/v1/campaigns/{campaign_id}/archive"): Case(
        "content", lambda a: a.spare_campaign, lambda i: Request(f"/api/v1/campaigns/{i}/archive"), "curator"
    ),
    ("GET", "/api/v1/campaigns/{campaign_id}/items"): Case(
        "content", lambda a: a.campaign, lambda i: Request(f"/api/v1/campaigns/{i}/items"), "curator"
    ),
    ("PUT", "/api/v1/campaigns/{campaign_id}/items/{item_id}"): Case(
        "content", lambda a: f"{a.campaign}/{a.campaign_item}", _campaign_and_item, "curator"
    ),
    ("DELETE", "/api/v1/campaigns/{campaign_id}/items/{item_id}"): Case(
        "content", lambda a: f"{a.campaign}/{a.campaign_item}", _campaign_and_item, "curator"
    ),
    ("GET", "/api/v1/content-items/{item_id}"): Case(
        "content", lambda a: a.published_item, lambda i: Request(f"/api/v1/content-items/{i}"), "employee"
    ),
    ("POST", "/api/v1/content-items/{item_id}/publish"): Case(
        "content", lambda a: a.draft_item, lambda i: Request(f"/api/v1/content-items/{i}/publish"), "curator"
    ),
    ("GET", "/api/v1/content-items/{item_id}/link-preview"): Case(
        "content", lambda a: a.published_item, lambda i: Request(f"/api/v1/content-items/{i}/link-preview"), "employee"
    ),
    ("POST", "/api/v1/link-previews/batch"): Case(
        "content",
        lambda a: a.published_item,
        lambda i: Request("/api/v1/link-previews/batch", json={"item_ids": [i]}),
        "employee",
        listed=True,
    ),
    ("POST", "/api/v1/content-items/{item_id}/link-preview/refresh"): Case(
        "content",
        lambda a: a.draft_item,
        lambda i: Request(f"/api/v1/content-items/{i}/link-preview/refresh"),
        "curator",
    ),
    ("GET", "/api/v1/content-items"): Case(
        "content",
        lambda a: a.campaign,
        lambda i: Request("/api/v1/content-items", params={"campaign_id": i}),
        "curator",
        listed=True,
    ),
    ("PATCH", "/api/v1/content-items/{item_id}"): Case(
        "content",
        lambda a: a.library_draft,
        lambda i: Request(f"/api/v1/content-items/{i}", json={"summary": "Edited"}),
        "curator",
    ),
    ("DELETE", "/api/v1/content-items/{item_id}"): Case(
        "content", lambda a: a.spare_deletable, lambda i: Request(f"/api/v1/content-items/{i}"), "curator"
    ),
    ("POST", "/api/v1/content-items/{item_id}/unpublish"): Case(
        "content", lambda a: a.spare_published, lambda i: Request(f"/api/v1/content-items/{i}/unpublish"), "curator"
    ),
    ("POST", "/api/v1/content-items/{item_id}/archive"): Case(
        "content", lambda a: a.spare_archivable, lambda i: Request(f"/api/v1/content-items/{i}/archive"), "curator"
    ),
    ("PUT", "/api/v1/content-items/{item_id}/pin"): Case(
        "content",
        lambda a: a.library_draft,
        lambda i: Request(f"/api/v1/content-items/{i}/pin", json={"position": 1}),
        "curator",
    ),
    ("DELETE", "/api/v1/content-items/{item_id}/pin"): Case(
        "content", lambda a: a.library_draft, lambda i: Request(f"/api/v1/content-items/{i}/pin"), "curator"
    ),
    ("GET", "/api/v1/content-items/{item_id}/revisions"): Case(
        "content", lambda a: a.published_item, lambda i: Request(f"/api/v1/content-items/{i}/revisions"), "curator"
    ),
    ("GET", "/api/v1/share-decisions/{share_id}"): Case(
        "policy", lambda a: a.share, lambda i: Request(f"/api/v1/share-decisions/{i}"), "employee"
    ),
    ("POST", "/api/v1/members"): Case("policy", lambda a: a.team, new_member, "admin"),
    ("GET", "/api/v1/teams/{team_id}"): Case(
        "policy", lambda a: a.team, lambda i: Request(f"/api/v1/teams/{i}"), "admin"
    ),
    ("GET", "/api/v1/members/{member_id}"): Case(
        "policy", lambda a: a.member, lambda i: Request(f"/api/v1/members/{i}"), "admin"
    ),
    ("GET", "/api/v1/roster/members/{member_id}"): Case(
        "policy", lambda a: a.member, lambda i: Request(f"/api/v1/roster/members/{i}"), "admin"
    ),
    ("POST", "/api/v1/roster/members/{member_id}/deactivate"): Case(
        "policy", lambda a: a.spare_member, lambda i: Request(f"/api/v1/roster/members/{i}/deactivate"), "admin"
    ),
    ("POST", "/api/v1/provisioning-tokens/{token_id}/rotate"): Case(
        "policy",
        lambda a: a.spare_provisioning_token,
        lambda i: Request(f"/api/v1/provisioning-tokens/{i}/rotate"),
        "admin",
    ),
    ("POST", "/api/v1/shares"): Case(
        "sharing",
        lambda a: a.published_item,
        lambda i: Request("/api/v1/shares", json={"content_id": i, "network": "threads", "text": "Proud of this"}),
        "employee",
    ),
    ("GET", "/api/v1/shares/{share_id}"): Case(
        "sharing", lambda a: a.share, lambda i: Request(f"/api/v1/shares/{i}"), "employee"
    ),
    ("GET", "/api/v1/shares"): Case(
        "sharing",
        lambda a: a.published_item,
        lambda i: Request("/api/v1/shares", params={"content_id": i}),
        "employee",
        listed=True,
    ),
    ("DELETE", "/api/v1/connections/{connection_id}"): Case(
        "sharing", lambda a: a.connection, lambda i: Request(f"/api/v1/connections/{i}"), "employee"
    ),
    ("GET", "/api/v1/policy-versions/{version_id}"): Case(
        "policy", lambda a: a.policy_version, lambda i: Request(f"/api/v1/policy-versions/{i}"), "employee"
    ),
    ("POST", "/api/v1/policy-versions/{version_id}/publish"): Case(
        "policy",
        lambda a: a.policy_draft,
        lambda i: Request(f"/api/v1/policy-versions/{i}/publish", json={"requires_acknowledgement": False}),
        "admin",
    ),
    ("GET", "/api/v1/policy-versions/{version_id}/progress"): Case(
        "policy", lambda a: a.policy_version, lambda i: Request(f"/api/v1/policy-versions/{i}/progress"), "admin"
    ),
    ("GET", "/api/v1/policy-versions/{version_id}/acknowledgements.csv"): Case(
        "policy",
        lambda a: a.policy_version,
        lambda i: Request(f"/api/v1/policy-versions/{i}/acknowledgements.csv"),
        "admin",
    ),
    ("POST", "/api/v1/policy-acknowledgements"): Case(
        "policy",
        lambda a: a.current_policy(),
        lambda i: Request("/api/v1/policy-acknowledgements", json={"policy_version_id": i}),
        "employee",
    ),
    ("GET", "/api/v1/training-modules/{module_id}"): Case(
        "policy", lambda a: a.module, lambda i: Request(f"/api/v1/training-modules/{i}"), "employee"
    ),
    ("POST", "/api/v1/training-modules/{module_id}/attempts"): Case(
        "policy",
        lambda a: a.module,
        lambda i: Request(f"/api/v1/training-modules/{i}/attempts", json={"answers": [[1]]}),
        "employee",
    ),
    ("GET", "/api/v1/training-modules/{module_id}/progress"): Case(
        "policy", lambda a: a.module, lambda i: Request(f"/api/v1/training-modules/{i}/progress"), "admin"
    ),
    ("GET", "/api/v1/quiz-attempts/{attempt_id}"): Case(
        "policy", lambda a: a.quiz_attempt, lambda i: Request(f"/api/v1/quiz-attempts/{i}"), "employee"
    ),
    ("POST", "/api/v1/policy-checks"): Case(
        "policy",
        lambda a: a.campaign,
        lambda i: Request(
            "/api/v1/policy-checks", json={"network": "linkedin", "text": "a campaign-phrase", "campaign_id": i}
        ),
        "employee",
        listed=True,
        proves=lambda body: [f["code"] for f in body["findings"]] == ["phrase_found"],
    ),
    ("POST", "/api/v1/compliance/rules"): Case(
        "policy",
        lambda a: a.team,
        lambda i: Request("/api/v1/compliance/rules", json={**COMPLIANCE_RULE, "team_id": i}),
        "admin",
    ),
    ("GET", "/api/v1/compliance/rules/{rule_id}"): Case(
        "policy", lambda a: a.compliance_rule, lambda i: Request(f"/api/v1/compliance/rules/{i}"), "admin"
    ),
    ("PUT", "/api/v1/compliance/rules/{rule_id}"): Case(
        "policy",
        lambda a: a.compliance_rule,
        lambda i: Request(f"/api/v1/compliance/rules/{i}", json=COMPLIANCE_RULE),
        "admin",
    ),
    ("DELETE", "/api/v1/compliance/rules/{rule_id}"): Case(
        "policy", lambda a: a.spare_compliance_rule, lambda i: Request(f"/api/v1/compliance/rules/{i}"), "admin"
    ),
    ("GET", "/api/v1/content-stats/{content_id}"): Case(
        "metrics", lambda a: a.published_item, lambda i: Request(f"/api/v1/content-stats/{i}"), "employee"
    ),
    ("POST", "/api/v1/content-stats/batch"): Case(
        "metrics",
        lambda a: a.published_item,
        lambda i: Request("/api/v1/content-stats/batch", json={"content_ids": [i]}),
        "employee",
        listed=True,
    ),
    ("GET", "/api/v1/content-items/{item_id}/captions"): Case(
        "content", lambda a: a.published_item, lambda i: Request(f"/api/v1/content-items/{i}/captions"), "curator"
    ),
    ("PUT", "/api/v1/content-items/{item_id}/captions"): Case(
        "content",
        lambda a: a.spare_draft,
        lambda i: Request(f"/api/v1/content-items/{i}/captions", json={"captions": [{"text": "Mine"}]}),
        "curator",
    ),
    ("GET", "/api/v1/captions"): Case(
        "content",
        lambda a: a.published_item,
        lambda i: Request("/api/v1/captions", params={"network": "x", "content_id": i}),
        "employee",
        listed=True,
    ),
    ("GET", "/api/v1/suggestions/{suggestion_id}"): Case(
        "content", lambda a: a.suggestion, lambda i: Request(f"/api/v1/suggestions/{i}"), "employee"
    ),
    ("POST", "/api/v1/suggestions/{suggestion_id}/accept"): Case(
        "content",
        lambda a: a.suggestion_to_accept,
        lambda i: Request(f"/api/v1/suggestions/{i}/accept", json={}),
        "curator",
    ),
    ("POST", "/api/v1/suggestions/{suggestion_id}/decline"): Case(
        "content",
        lambda a: a.suggestion_to_decline,
        lambda i: Request(f"/api/v1/suggestions/{i}/decline", json={"reason": "Not now"}),
        "curator",
    ),
}


def test_every_route_that_takes_an_id_has_a_tenancy_case() -> None:
    found = {(method, path): service for service, method, path in routes_taking_an_id()}
    missing = [
        f"{method} {path} ({service})" for (method, path), service in found.items() if (method, path) not in CASES
    ]
    assert not missing, "add a tenancy case (tests/test_tenancy.py, CASES) for: " + "; ".join(missing)
    stale = [f"{method} {path}" for method, path in CASES if (method, path) not in found]
    assert not stale, "these tenancy cases name no route that takes an id any more: " + "; ".join(stale)
    for key, case in CASES.items():
        assert found[key] == case.service, key


# --- against the running services ------------------------------------------------------------------


def send(system: RunningSystem, service: str, method: str, request: Request, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(
        method,
        f"{system.urls[service]}{request.path}",
        params=request.params,
        json=request.json,
        headers=headers,
        timeout=15,
    )


@pytest.fixture(scope="module")
def org_a(system: RunningSystem) -> OrgA:
    return make_org_a(system)


def _absent(body: dict[str, Any], object_id: str) -> bool:
    return object_id not in str(body)


@pytest.mark.parametrize(("method", "path"), list(CASES))
def test_another_orgs_id_answers_like_an_unknown_one(
    system: RunningSystem, org_a: OrgA, method: str, path: str
) -> None:
    case = CASES[(method, path)]
    owned = case.owned(org_a)
    org_b = uuid.uuid4()
    for roles in ROLE_SETS:
        caller = system.issuer.headers(org=org_b, roles=roles, subject=f"tenancy-b-{uuid.uuid4().hex[:6]}")
        theirs = send(system, case.service, method, case.request(owned), caller)
        unknown = send(system, case.service, method, case.request(str(uuid.uuid4())), caller)
        where = f"{method} {path} as {role_names(roles)} of another org"
        assert owned not in theirs.text, f"{where}: the other org's object leaked: {theirs.text}"
        assert theirs.status_code == unknown.status_code, f"{where}: {theirs.text} vs unknown id: {unknown.text}"
        if case.listed and not (theirs.status_code == 403 and roles != list(Role)):
            # A list for some roles only (the curators' library) refuses the others whatever the filter.
            assert theirs.status_code == 200, f"{where}: {theirs.text}"
            assert _absent(theirs.json(), owned) and theirs.json() == unknown.json(), where
            continue
        assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"], where
        if roles == list(Role):
            assert theirs.status_code == 404, f"{where}: {theirs.text}"
        else:
            # A role that may not use the route at all is refused for any id alike; nothing else.
            assert theirs.status_code in (403, 404), f"{where}: {theirs.text}"

    # The object is real, untouched, and reachable by its own org (so the case above could have failed).
    mine = send(system, case.service, method, case.request(owned), org_a.headers[case.owner])
    assert 200 <= mine.status_code < 300, f"{method} {path} by org A itself: {mine.text}"
    if case.proves is not None:
        assert case.proves(mine.json()), f"{method} {path} by org A itself does not use its object: {mine.text}"
    elif case.listed or method == "GET":
        assert owned in mine.text, f"{method} {path} by org A itself does not show its object: {mine.text}"

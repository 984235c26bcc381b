"""What the two tenancy tests share (tests/test_tenancy.py for REST, tests/test_tenancy_graphql.py for
GraphQL): the callers of another org, and org A with one object of each kind an id can name, made
through the services' REST APIs on the running system."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem, eventually

# A caller of the other org with each role alone, then with all of them: whatever the roles, the other
# org's object stays out of reach.
ROLE_SETS = [[role] for role in Role] + [list(Role)]


def role_names(roles: list[Role]) -> list[str]:
    return [str(role) for role in roles]


@dataclass
class Request:
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass
class OrgA:
    """One org's objects, one of each kind an id can name (raw uuids, as the services know them)."""

    org: uuid.UUID
    headers: dict[str, dict[str, str]]  # by role name: "curator", "admin", "employee"
    published_item: str
    draft_item: str
    team: str
    member: str
    share: str
    connection: str
    # For the cases that change what they are given (publishing a draft, revoking a connection), so that
    # the other cases' objects stay as they are whatever order the cases run in.
    spare_draft: str
    spare_connection: str
    # The social-media policy and training (issue 6).
    policy_draft: str
    policy_version: str
    module: str
    quiz_attempt: str
    # The version in force when asked: the publish case may have put another one in force meanwhile.
    current_policy: Callable[[], str]
    # The roster (issue 6): a member only the deactivation cases deactivate, and the org's SCIM provisioning
    # tokens (one only the rotation cases rotate).
    spare_member: str
    provisioning_token: str
    spare_provisioning_token: str
    # The library (issue 7): a draft in the campaign below that the edit and pin cases change in place,
    # and one item for each case that changes an item for good (unpublish, archive, delete).
    library_draft: str = ""
    spare_published: str = ""
    spare_archivable: str = ""
    spare_deletable: str = ""
    # Campaigns (issue 7): one holding the published item (and a draft the item cases add and remove),
    # and one only the archive case archives.
    campaign: str = ""
    spare_campaign: str = ""
    campaign_item: str = ""
    # Compliance rules (issue 8): one the cases read and replace, one only the delete case deletes.
    compliance_rule: str = ""
    spare_compliance_rule: str = ""
    # The campaign above has a compliance rule of its own too (policy only scopes rules by its id).
    # Employee suggestions (issue 7): one to read, and one each for the cases that accept and decline.
    suggestion: str = ""
    suggestion_to_accept: str = ""
    suggestion_to_decline: str = ""


def new_member(team_id: str) -> Request:
    subject = f"tenancy-{uuid.uuid4().hex[:10]}"
    body = {"subject": subject, "email": f"{subject}@acme.example", "name": "Nina", "team_id": team_id}
    return Request("/api/v1/members", json={**body, "roles": ["employee"]})


_POLICY_MODULE = {
    "title": "Tenancy training",
    "lessons": [{"title": "One", "body": "Read me."}],
    "questions": [{"prompt": "Yes?", "options": ["yes", "no"], "correct_options": [0]}],
    "pass_mark": 100,
}


# A rule no share of the tests meets.
COMPLIANCE_RULE = {"kind": "phrases", "action": "warn", "phrases": ["tenancy-unlikely-phrase"]}
# A rule only shares of org A's campaign meet.
CAMPAIGN_RULE = {"kind": "phrases", "action": "warn", "phrases": ["campaign-phrase"]}


def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, response.text
    body: dict[str, Any] = response.json()
    return body


def make_org_a(system: RunningSystem) -> OrgA:
    org = uuid.uuid4()
    urls = system.urls
    headers = {
        "curator": system.issuer.headers(org=org, roles=[Role.CURATOR], subject="tenancy-curator"),
        "admin": system.issuer.headers(org=org, roles=[Role.ADMIN], subject="tenancy-admin"),
        "employee": system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="tenancy-employee"),
    }
    items = []
    for title in ("Published", "Draft", "Spare draft"):
        created = httpx.post(
            f"{urls['content']}/api/v1/content-items",
            json={"title": title, "url": "https://acme.example/news/tenancy"},
            headers=headers["curator"],
        )
        items.append(ok(created, 201)["id"])
    published, draft, spare_draft = items
    ok(httpx.post(f"{urls['content']}/api/v1/content-items/{published}/publish", headers=headers["curator"]), 200)
    team = ok(httpx.post(f"{urls['policy']}/api/v1/teams", json={"name": "Tenancy"}, headers=headers["admin"]), 201)
    member_request = new_member(team["id"])
    member = ok(
        httpx.post(f"{urls['policy']}{member_request.path}", json=member_request.json, headers=headers["admin"]), 201
    )
    connections = [
        ok(
            httpx.post(
                f"{urls['sharing']}/api/v1/connections",
                json={"network": network, "handle": "tenancy", "audience_size": 10},
                headers=headers["employee"],
            ),
            201,
        )["id"]
        for network in ("linkedin", "bluesky")  # one connection a network per employee
    ]

    share = ok(
        httpx.post(
            f"{urls['sharing']}/api/v1/shares",
            json={"content_id": published, "network": "x", "text": "Our own words"},
            headers=headers["employee"],
            timeout=15,
        ),
        202,
    )
    # The decision and the stats are made from events: wait until org A itself can read them.
    eventually(
        lambda: (
            httpx.get(f"{urls['policy']}/api/v1/share-decisions/{share['id']}", headers=headers["employee"]).status_code
            == 200
        )
    )
    eventually(
        lambda: (
            httpx.get(f"{urls['metrics']}/api/v1/content-stats/{published}", headers=headers["employee"]).status_code
            == 200
        )
    )
    # The policy and training objects; nothing here asks org A's members for anything before sharing.
    policy = f"{urls['policy']}/api/v1"
    document = {"title": "Tenancy policy", "body": "Be yourself."}
    version = ok(httpx.post(f"{policy}/policy-versions", json=document, headers=headers["admin"]), 201)
    publish = {"requires_acknowledgement": False}
    ok(httpx.post(f"{policy}/policy-versions/{version['id']}/publish", json=publish, headers=headers["admin"]), 200)
    accept = {"policy_version_id": version["id"]}
    ok(httpx.post(f"{policy}/policy-acknowledgements", json=accept, headers=headers["employee"]), 201)
    policy_draft = ok(httpx.post(f"{policy}/policy-versions", json=document, headers=headers["admin"]), 201)
    module = ok(httpx.post(f"{policy}/training-modules", json=_POLICY_MODULE, headers=headers["admin"]), 201)
    attempt = ok(
        httpx.post(
            f"{policy}/training-modules/{module['id']}/attempts", json={"answers": [[0]]}, headers=headers["employee"]
        ),
        201,
    )
    spare_request = new_member(team["id"])
    spare_member = ok(
        httpx.post(f"{urls['policy']}{spare_request.path}", json=spare_request.json, headers=headers["admin"]), 201
    )
    tokens = [ok(httpx.post(f"{policy}/provisioning-tokens", headers=headers["admin"]), 201)["id"] for _ in range(2)]
    content = f"{urls['content']}/api/v1"
    campaign, spare_campaign = (
        ok(httpx.post(f"{content}/campaigns", json={"name": name}, headers=headers["curator"]), 201)["id"]
        for name in ("Tenancy", "Spare")
    )
    campaign_item = ok(
        httpx.post(
            f"{content}/content-items",
            json={"title": "In a campaign", "url": "https://acme.example/news/tenancy"},
            headers=headers["curator"],
        ),
        201,
    )["id"]
    for item in (published, campaign_item):
        ok(httpx.put(f"{content}/campaigns/{campaign}/items/{item}", headers=headers["curator"]), 200)
    library = _make_library(system, headers["curator"], campaign)
    rules = [
        ok(httpx.post(f"{policy}/compliance/rules", json=COMPLIANCE_RULE, headers=headers["admin"]), 201)["id"]
        for _ in range(2)
    ]
    scoped = {**CAMPAIGN_RULE, "campaign_id": campaign}
    ok(httpx.post(f"{policy}/compliance/rules", json=scoped, headers=headers["admin"]), 201)
    # A caption the published item offers every member (the caption choice lists it), and suggestions.
    captions = {"captions": [{"text": "Proud of this"}]}
    content = f"{urls['content']}/api/v1"
    ok(httpx.put(f"{content}/content-items/{published}/captions", json=captions, headers=headers["curator"]), 200)
    suggestions = [
        ok(
            httpx.post(
                f"{content}/suggestions",
                json={"url": f"https://acme.example/tenancy/{n}", "note": "Worth sharing"},
                headers=headers["employee"],
            ),
            201,
        )["id"]
        for n in range(3)
    ]
    return OrgA(
        org,
        headers,
        published,
        draft,
        team["id"],
        member["id"],
        share["id"],
        connections[0],
        spare_draft=spare_draft,
        spare_connection=connections[1],
        policy_draft=policy_draft["id"],
        policy_version=version["id"],
        module=module["id"],
        quiz_attempt=attempt["id"],
        current_policy=lambda: str(
            ok(httpx.get(f"{policy}/policy-status", headers=headers["employee"]), 200)["current"]["id"]
        ),
        spare_member=spare_member["id"],
        provisioning_token=tokens[0],
        spare_provisioning_token=tokens[1],
        **library,
        campaign=campaign,
        spare_campaign=spare_campaign,
        campaign_item=campaign_item,
        compliance_rule=rules[0],
        spare_compliance_rule=rules[1],
        suggestion=suggestions[0],
        suggestion_to_accept=suggestions[1],
        suggestion_to_decline=suggestions[2],
    )


def _make_library(system: RunningSystem, curator: dict[str, str], campaign: str) -> dict[str, str]:
    content = f"{system.urls['content']}/api/v1/content-items"

    def item(title: str, *, publish: bool) -> str:
        made = ok(httpx.post(content, json={"title": title, "url": "https://acme.example/lib"}, headers=curator), 201)
        if publish:
            ok(httpx.post(f"{content}/{made['id']}/publish", headers=curator), 200)
        return str(made["id"])

    draft = item("Library draft", publish=False)
    campaigns = f"{system.urls['content']}/api/v1/campaigns"
    ok(httpx.put(f"{campaigns}/{campaign}/items/{draft}", headers=curator), 200)
    return {
        "library_draft": draft,
        "spare_published": item("To unpublish", publish=True),
        "spare_archivable": item("To archive", publish=False),
        "spare_deletable": item("To delete", publish=False),
    }

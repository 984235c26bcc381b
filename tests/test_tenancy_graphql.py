"""Tenancy on the GraphQL side: every field of the gateway's schema that takes an id (an argument of type
ID or [ID], or an ID field of an input object it takes, however deep) answers another org's id exactly
as it answers an id that does not exist: ``null`` for a query (a null entry for ``nodes``, an empty page
for a list filtered by it), a NotFoundError for a mutation, an error for a subscription; never the
object, never a PermissionDeniedError that tells it exists.

The fields are read from the schema the gateway builds, so a new field that takes an id fails
``test_every_field_that_takes_an_id_has_a_tenancy_case`` until a case below says what to send; every
case then runs against the real stack (the gateway and the four services on PostgreSQL and the broker),
and org A's own caller must get its object through it, which proves the case could fail.
``node(id:)``, ``nodes(ids:)`` and the typed lookups run once for every kind of object (NODE_OBJECTS)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from graphql import build_schema as parse_sdl
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from condividi.identity import Role
from condividi.testing import RunningSystem
from gateway.relay import to_global_id
from gateway.schema import build_schema
from tests.tenancy import ROLE_SETS, OrgA, make_org_a, ok, role_names

ROOTS = ("Query", "Mutation", "Subscription")


def gateway_schema() -> GraphQLSchema:
    # Through the printed SDL: graphql-core's public view of exactly what clients see.
    return parse_sdl(build_schema().as_str())


def _id_inputs(
    prefix: str, arguments: dict[str, GraphQLArgument] | dict[str, GraphQLInputField], seen: frozenset[str]
) -> Iterator[str]:
    for name, argument in arguments.items():
        named = get_named_type(argument.type)
        if named.name == "ID":
            yield f"{prefix}{name}"
        elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            yield from _id_inputs(f"{prefix}{name}.", named.fields, seen | {named.name})


def fields_taking_an_id(schema: GraphQLSchema) -> Iterator[str]:
    """``Type.field(argument)`` for every argument of type ID or [ID] of every object type's field
    (the roots included), and ``Type.field(input.path.to.field)`` for every ID field of an input object
    a field takes."""
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, graphql_field in graphql_type.fields.items():
            for path in _id_inputs("", graphql_field.args, frozenset()):
                yield f"{type_name}.{field_name}({path})"


def node_types(schema: GraphQLSchema) -> set[str]:
    node = schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    return {t.name for t in schema.get_implementations(node).objects}


# --- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeObject:
    """One of org A's objects a global id can name, and which of org A's callers may see it."""

    type_name: str
    raw: Callable[[OrgA], str]
    owner: str


NODE_OBJECTS: dict[str, NodeObject] = {
    "published item": NodeObject("ContentItem", lambda a: a.published_item, "employee"),
    "draft": NodeObject("ContentItem", lambda a: a.draft_item, "curator"),
    "share": NodeObject("Share", lambda a: a.share, "employee"),
    "decision": NodeObject("ShareDecision", lambda a: a.share, "employee"),  # a decision's id is its share's
    "social account": NodeObject("SocialAccount", lambda a: a.connection, "employee"),
    "team": NodeObject("Team", lambda a: a.team, "admin"),
    "member": NodeObject("Member", lambda a: a.member, "admin"),
    "policy version": NodeObject("PolicyVersion", lambda a: a.policy_version, "employee"),
    "training module": NodeObject("TrainingModule", lambda a: a.module, "employee"),
    "quiz attempt": NodeObject("QuizAttempt", lambda a: a.quiz_attempt, "employee"),
    "provisioning token": NodeObject("ProvisioningToken", lambda a: a.provisioning_token, "admin"),
    "campaign": NodeObject("Campaign", lambda a: a.campaign, "curator"),
    "compliance rule": NodeObject("ComplianceRule", lambda a: a.compliance_rule, "admin"),
    "suggestion": NodeObject("Suggestion", lambda a: a.suggestion, "employee"),
}

Kind = Literal["query", "mutation", "subscription"]


@dataclass(frozen=True)
class Case:
    """A document sending the id of one of org A's objects (``variables`` places it) and what answers an
    unknown one.

    ``objects`` names the objects (NODE_OBJECTS, SPARE_OBJECTS) the case runs on, None for all of
    NODE_OBJECTS. ``missing`` is what a query's root field answers for an unknown id (for a field of
    another type, reached from a root field, the root field's whole answer); a mutation answers a
    NotFoundError and nothing else, a subscription a not_found error. The object's owner in org A must
    then find the object's global id in the root field's answer, with no error.

    ``own`` makes, before each request, what the document needs of the caller's own org (the draft a
    foreign team is attached to, say), as more variables: so that the id under test is the only thing
    that is not the caller's."""

    kind: Kind
    document: str
    objects: tuple[str, ...] | None
    variables: Callable[[str], dict[str, Any]] = field(default=lambda i: {"id": i})
    missing: Any = None
    own: Callable[[RunningSystem, uuid.UUID], dict[str, Any]] | None = None


def _new_member(team_id: str) -> dict[str, Any]:
    subject = f"tenancy-gql-{uuid.uuid4().hex[:10]}"
    member = {"subject": subject, "email": f"{subject}@acme.example", "name": "Nina", "roles": ["EMPLOYEE"]}
    return {"i": {**member, "teamId": team_id}}


def _policy_draft(system: RunningSystem, org: uuid.UUID) -> dict[str, Any]:
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="tenancy-gql-admin")
    draft = {"title": "Tenancy policy", "body": "Be yourself."}
    created = ok(httpx.post(f"{system.urls['policy']}/api/v1/policy-versions", json=draft, headers=admin), 201)
    return {"draft": to_global_id("PolicyVersion", created["id"])}


def _own_rule(system: RunningSystem, org: uuid.UUID) -> dict[str, Any]:
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="tenancy-gql-admin")
    rule = {"kind": "phrases", "action": "warn", "phrases": ["tenancy-unlikely-phrase"]}
    created = ok(httpx.post(f"{system.urls['policy']}/api/v1/compliance/rules", json=rule, headers=admin), 201)
    return {"rule": to_global_id("ComplianceRule", created["id"])}


_ERRORS = "errors { __typename message path }"
_RULE = 'kind: PHRASES, action: WARN, phrases: ["tenancy-unlikely-phrase"]'


def _own_draft(system: RunningSystem, org: uuid.UUID) -> dict[str, Any]:
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="tenancy-gql-curator")
    body = {"title": "Own draft", "url": "https://acme.example/own"}
    created = ok(httpx.post(f"{system.urls['content']}/api/v1/content-items", json=body, headers=curator), 201)
    return {"item": to_global_id("ContentItem", created["id"])}


def _own_campaign(system: RunningSystem, org: uuid.UUID) -> dict[str, Any]:
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="tenancy-gql-curator")
    body = {"name": f"Own {uuid.uuid4().hex[:8]}"}
    created = ok(httpx.post(f"{system.urls['content']}/api/v1/campaigns", json=body, headers=curator), 201)
    return {"campaign": to_global_id("Campaign", created["id"])}


def _fresh_name(system: RunningSystem, org: uuid.UUID) -> dict[str, Any]:
    return {"name": f"Fresh {uuid.uuid4().hex[:8]}"}


CASES: dict[str, Case] = {
    "Query.node(id)": Case("query", "query($id: ID!) { node(id: $id) { __typename id } }", None),
    "Query.nodes(ids)": Case(
        "query",
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        None,
        variables=lambda i: {"ids": [i]},
        missing=[None],
    ),
    "Query.contentItem(id)": Case(
        "query", "query($id: ID!) { contentItem(id: $id) { id } }", ("published item", "draft")
    ),
    "Query.share(id)": Case("query", "query($id: ID!) { share(id: $id) { id } }", ("share",)),
    "Query.myShares(contentId)": Case(
        "query",
        "query($id: ID!) { myShares(contentId: $id) { edges { node { id contentId } } } }",
        ("published item",),
        missing={"edges": []},
    ),
    "Mutation.publishContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ publishContentItem(input: {{id: $id}}) {{ contentItem {{ id }} {_ERRORS} }} }}",
        ("spare draft",),
    ),
    "Mutation.refreshLinkPreview(input.contentItemId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ refreshLinkPreview(input: {{contentItemId: $id}})
            {{ linkPreview {{ contentItemId status }} {_ERRORS} }} }}""",
        ("draft",),
    ),
    "Query.contentItems(filter.campaignId)": Case(
        "query",
        "query($id: ID!) { contentItems(filter: {campaignId: $id}) { edges { node { id campaignId } } } }",
        ("campaign",),
        missing={"edges": []},
    ),
    "Mutation.updateContentItem(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ updateContentItem(input: {{id: $id, summary: "Edited"}})
            {{ contentItem {{ id }} {_ERRORS} }} }}""",
        ("library draft",),
    ),
    "Mutation.pinContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ pinContentItem(input: {{id: $id}}) {{ contentItem {{ id }} {_ERRORS} }} }}",
        ("library draft",),
    ),
    "Mutation.unpinContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ unpinContentItem(input: {{id: $id}}) {{ contentItem {{ id }} {_ERRORS} }} }}",
        ("library draft",),
    ),
    "Mutation.unpublishContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ unpublishContentItem(input: {{id: $id}}) {{ contentItem {{ id }} {_ERRORS} }} }}",
        ("spare published",),
    ),
    "Mutation.archiveContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ archiveContentItem(input: {{id: $id}}) {{ contentItem {{ id }} {_ERRORS} }} }}",
        ("spare archivable",),
    ),
    "Mutation.deleteContentItem(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ deleteContentItem(input: {{id: $id}}) {{ deletedId {_ERRORS} }} }}",
        ("spare deletable",),
    ),
    "Mutation.shareContent(input.contentId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ shareContent(input: {{contentId: $id, network: THREADS, text: "Proud of this"}})
            {{ share {{ id contentId }} {_ERRORS} }} }}""",
        ("published item",),
    ),
    "Mutation.deleteSocialAccount(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ deleteSocialAccount(input: {{id: $id}}) {{ deletedId {_ERRORS} }} }}",
        ("spare social account",),
    ),
    "Mutation.createMember(input.teamId)": Case(
        "mutation",
        f"""mutation($i: CreateMemberInput!) {{ createMember(input: $i)
            {{ member {{ id team {{ id }} }} {_ERRORS} }} }}""",
        ("team",),
        variables=_new_member,
    ),
    "Mutation.publishPolicyVersion(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ publishPolicyVersion(input: {{id: $id, requiresAcknowledgement: false}})
            {{ policyVersion {{ id }} {_ERRORS} }} }}""",
        ("policy draft",),
    ),
    "Mutation.publishPolicyVersion(input.teamIds)": Case(
        "mutation",
        f"""mutation($id: ID!, $draft: ID!) {{
            publishPolicyVersion(input: {{id: $draft, requiresAcknowledgement: false, teamIds: [$id]}})
            {{ policyVersion {{ id targetTeamIds }} {_ERRORS} }} }}""",
        ("team",),
        own=_policy_draft,
    ),
    "Mutation.acknowledgePolicy(input.policyVersionId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ acknowledgePolicy(input: {{policyVersionId: $id}})
            {{ acknowledgement {{ policyVersionId }} {_ERRORS} }} }}""",
        ("policy in force",),
    ),
    "Mutation.submitQuizAttempt(input.moduleId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ submitQuizAttempt(input: {{moduleId: $id, answers: [[0]]}})
            {{ quizAttempt {{ id moduleId }} {_ERRORS} }} }}""",
        ("training module",),
    ),
    "Mutation.deactivateMember(input.memberId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ deactivateMember(input: {{memberId: $id}})
            {{ member {{ id active }} {_ERRORS} }} }}""",
        ("spare member",),
    ),
    "Mutation.issueProvisioningToken(input.replaces)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ issueProvisioningToken(input: {{replaces: $id}})
            {{ issued {{ replacedId provisioningToken {{ id }} }} {_ERRORS} }} }}""",
        ("spare provisioning token",),
    ),
    "Query.campaign(id)": Case("query", "query($id: ID!) { campaign(id: $id) { id } }", ("campaign",)),
    "Query.feed(campaignId)": Case(
        "query",
        "query($id: ID!) { feed(campaignId: $id) { edges { node { id campaignId } } } }",
        ("campaign",),
        missing={"edges": []},
    ),
    "Mutation.updateCampaign(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ updateCampaign(input: {{id: $id, goal: "Tenancy"}})
            {{ campaign {{ id }} {_ERRORS} }} }}""",
        ("campaign",),
    ),
    "Mutation.updateCampaign(input.audience.teamIds)": Case(
        "mutation",
        f"""mutation($id: ID!, $campaign: ID!) {{ updateCampaign(input: {{id: $campaign, audience: {{teamIds: [$id]}}}})
            {{ campaign {{ id audience {{ teamIds }} }} {_ERRORS} }} }}""",
        ("team",),
        own=_own_campaign,
    ),
    "Mutation.createCampaign(input.audience.teamIds)": Case(
        "mutation",
        f"""mutation($id: ID!, $name: String!) {{ createCampaign(input: {{name: $name, audience: {{teamIds: [$id]}}}})
            {{ campaign {{ id audience {{ teamIds }} }} {_ERRORS} }} }}""",
        ("team",),
        own=_fresh_name,
    ),
    "Mutation.archiveCampaign(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ archiveCampaign(input: {{id: $id}}) {{ campaign {{ id }} {_ERRORS} }} }}",
        ("spare campaign",),
    ),
    "Mutation.addCampaignItem(input.campaignId)": Case(
        "mutation",
        f"""mutation($id: ID!, $item: ID!) {{ addCampaignItem(input: {{campaignId: $id, contentItemId: $item}})
            {{ contentItem {{ id campaignId }} {_ERRORS} }} }}""",
        ("campaign",),
        own=_own_draft,
    ),
    "Mutation.addCampaignItem(input.contentItemId)": Case(
        "mutation",
        f"""mutation($id: ID!, $campaign: ID!) {{ addCampaignItem(input: {{campaignId: $campaign, contentItemId: $id}})
            {{ contentItem {{ id campaignId }} {_ERRORS} }} }}""",
        ("campaign item",),
        own=_own_campaign,
    ),
    "Mutation.removeCampaignItem(input.contentItemId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ removeCampaignItem(input: {{contentItemId: $id}})
            {{ contentItem {{ id campaignId }} {_ERRORS} }} }}""",
        ("campaign item",),
    ),
    "Mutation.setContentItemAudience(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ setContentItemAudience(input: {{id: $id, audience: {{}}}})
            {{ contentItem {{ id }} {_ERRORS} }} }}""",
        ("campaign item",),
    ),
    "Mutation.setContentItemAudience(input.audience.teamIds)": Case(
        "mutation",
        f"""mutation($id: ID!, $item: ID!) {{ setContentItemAudience(input: {{id: $item, audience: {{teamIds: [$id]}}}})
            {{ contentItem {{ id audience {{ teamIds }} }} {_ERRORS} }} }}""",
        ("team",),
        own=_own_draft,
    ),
    "Mutation.createComplianceRule(input.rule.teamId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ createComplianceRule(input: {{rule: {{{_RULE}, teamId: $id}}}})
            {{ complianceRule {{ id teamId }} {_ERRORS} }} }}""",
        ("team",),
    ),
    "Mutation.replaceComplianceRule(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ replaceComplianceRule(input: {{id: $id, rule: {{{_RULE}}}}})
            {{ complianceRule {{ id }} {_ERRORS} }} }}""",
        ("compliance rule",),
    ),
    "Mutation.replaceComplianceRule(input.rule.teamId)": Case(
        "mutation",
        f"""mutation($id: ID!, $rule: ID!) {{
            replaceComplianceRule(input: {{id: $rule, rule: {{{_RULE}, teamId: $id}}}})
            {{ complianceRule {{ id teamId }} {_ERRORS} }} }}""",
        ("team",),
        own=_own_rule,
    ),
    "Mutation.deleteComplianceRule(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ deleteComplianceRule(input: {{id: $id}}) {{ deletedId {_ERRORS} }} }}",
        ("spare compliance rule",),
    ),
    "Mutation.setCaptions(input.contentItemId)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ setCaptions(input: {{contentItemId: $id, captions: [{{text: "Mine"}}]}})
            {{ contentItem {{ id }} {_ERRORS} }} }}""",
        ("spare draft",),
    ),
    "Mutation.acceptSuggestion(input.id)": Case(
        "mutation",
        f"mutation($id: ID!) {{ acceptSuggestion(input: {{id: $id}}) {{ suggestion {{ id }} {_ERRORS} }} }}",
        ("suggestion to accept",),
    ),
    "Mutation.declineSuggestion(input.id)": Case(
        "mutation",
        f"""mutation($id: ID!) {{ declineSuggestion(input: {{id: $id, reason: "Not now"}})
            {{ suggestion {{ id }} {_ERRORS} }} }}""",
        ("suggestion to decline",),
    ),
    "Subscription.shareUpdated(id)": Case(
        "subscription", "subscription($id: ID!) { shareUpdated(id: $id) { id status } }", ("share",)
    ),
}

# Objects that only the cases changing them use (publishing, revoking), so that the node cases' objects
# stay as they are whatever the order.
SPARE_OBJECTS: dict[str, NodeObject] = {
    "spare draft": NodeObject("ContentItem", lambda a: a.spare_draft, "curator"),
    # The library (issue 7).
    "library draft": NodeObject("ContentItem", lambda a: a.library_draft, "curator"),
    "spare published": NodeObject("ContentItem", lambda a: a.spare_published, "curator"),
    "spare archivable": NodeObject("ContentItem", lambda a: a.spare_archivable, "curator"),
    "spare deletable": NodeObject("ContentItem", lambda a: a.spare_deletable, "curator"),
    "spare campaign": NodeObject("Campaign", lambda a: a.spare_campaign, "curator"),
    "spare social account": NodeObject("SocialAccount", lambda a: a.spare_connection, "employee"),
    "policy draft": NodeObject("PolicyVersion", lambda a: a.policy_draft, "admin"),
    # Asked when the case runs: publishing the draft puts another version in force.
    "policy in force": NodeObject("PolicyVersion", lambda a: a.current_policy(), "employee"),
    "spare member": NodeObject("Member", lambda a: a.spare_member, "admin"),
    "spare provisioning token": NodeObject("ProvisioningToken", lambda a: a.spare_provisioning_token, "admin"),
    # Moved between campaigns and out of them by the campaign item cases.
    "campaign item": NodeObject("ContentItem", lambda a: a.campaign_item, "curator"),
    "spare compliance rule": NodeObject("ComplianceRule", lambda a: a.spare_compliance_rule, "admin"),
    "suggestion to accept": NodeObject("Suggestion", lambda a: a.suggestion_to_accept, "curator"),
    "suggestion to decline": NodeObject("Suggestion", lambda a: a.suggestion_to_decline, "curator"),
}


def _objects_of(case: Case) -> list[str]:
    return list(NODE_OBJECTS) if case.objects is None else list(case.objects)


def missing_cases(found: set[str]) -> str:
    """What to do about the fields that take an id and have no case; empty when none."""
    missing = sorted(found - set(CASES))
    if not missing:
        return ""
    return (
        "add a GraphQL tenancy case (tests/test_tenancy_graphql.py, CASES) for: "
        + "; ".join(missing)
        + ". A case is the document sending the id as $id, the objects of org A it runs on (NODE_OBJECTS, "
        "made in tests/tenancy.py make_org_a), and for a query what an unknown id answers (null, [null], "
        "an empty page); a mutation must answer a NotFoundError, a subscription a not_found error"
    )


def test_every_field_that_takes_an_id_has_a_tenancy_case() -> None:
    found = set(fields_taking_an_id(gateway_schema()))
    assert not missing_cases(found), missing_cases(found)
    stale = sorted(set(CASES) - found)
    assert not stale, "these GraphQL tenancy cases name no field that takes an id any more: " + "; ".join(stale)
    for key, case in CASES.items():
        assert key.split(".", 1)[0] in ROOTS or case.kind == "query", key
        for name in _objects_of(case):
            assert name in NODE_OBJECTS or name in SPARE_OBJECTS, f"{key}: no object of org A named {name!r}"


def test_a_new_field_taking_an_id_is_named_with_what_to_add() -> None:
    found = set(CASES) | {"Query.team(id)", "Mutation.updateTeam(input.id)"}
    message = missing_cases(found)
    assert message.startswith("add a GraphQL tenancy case (tests/test_tenancy_graphql.py, CASES) for: ")
    assert "Mutation.updateTeam(input.id); Query.team(id)." in message


def test_every_kind_of_node_has_an_object_of_org_a() -> None:
    """``node(id:)`` must be tried on every kind of object: a new Node type needs one in NODE_OBJECTS."""
    missing = sorted(node_types(gateway_schema()) - {o.type_name for o in NODE_OBJECTS.values()})
    assert not missing, (
        "add to NODE_OBJECTS (tests/test_tenancy_graphql.py) an object of org A for each Node type: "
        + ", ".join(missing)
        + " (make it in tests/tenancy.py make_org_a, and name which of org A's callers may see it)"
    )


def test_the_enumeration_finds_ids_wherever_they_are() -> None:
    """The walk itself: arguments of any object type, lists of ids, and input objects however nested."""
    schema = parse_sdl(
        """
        type Query { a(id: ID!, n: Int): T, b(ids: [ID!]): Int, c(where: Where): Int, d(name: String): Int }
        type T { children(parentId: ID, first: Int): Int, plain: Int }
        input Where { ownerId: ID, nested: Inner, self: Where }
        input Inner { teamIds: [ID!]! }
        """
    )
    assert sorted(fields_taking_an_id(schema)) == [
        "Query.a(id)",
        "Query.b(ids)",
        "Query.c(where.nested.teamIds)",
        "Query.c(where.ownerId)",
        "T.children(parentId)",
    ]


# --- against the running stack -------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_a(system: RunningSystem) -> OrgA:
    return make_org_a(system)


def _graphql(
    system: RunningSystem, case: Case, variables: dict[str, Any], headers: dict[str, str], org: uuid.UUID
) -> dict[str, Any]:
    if case.own is not None:
        variables = {**variables, **case.own(system, org)}
    if case.kind == "subscription":
        return _subscribe(system, case.document, variables, headers)
    response = httpx.post(
        f"{system.urls['gateway']}/graphql",
        json={"query": case.document, "variables": variables},
        headers=headers,
        timeout=15,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _subscribe(
    system: RunningSystem, document: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """The subscription's first message (graphql-transport-ws), as ``{"data"|"errors": ...}``."""
    url = system.urls["gateway"].replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": headers}))
        assert json.loads(ws.recv(10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables}}))
        message = json.loads(ws.recv(15))
    if message["type"] == "error":  # refused before it ran
        return {"errors": message["payload"]}
    assert message["type"] == "next", message
    payload: dict[str, Any] = message["payload"]
    return payload


def _field(body: dict[str, Any]) -> Any:
    """The root field's answer."""
    data = body.get("data") or {}
    return next(iter(data.values()), None)


def _field_name(body: dict[str, Any]) -> str:
    return next(iter(body.get("data") or {}), "")


def _without(sent: str, raw: str, body: dict[str, Any]) -> str:
    """The answer with the id it was asked about blanked out (a message may name the id it was sent)."""
    return json.dumps(body, sort_keys=True).replace(sent, "<id>").replace(raw, "<id>")


def _user_errors(value: Any) -> list[str]:
    errors = value.get("errors", []) if isinstance(value, dict) else []
    return [e["__typename"] for e in errors]


def _params() -> list[tuple[str, str]]:
    return [(key, name) for key, case in CASES.items() for name in _objects_of(case)]


@pytest.mark.parametrize(("key", "name"), _params())
def test_another_orgs_id_answers_like_an_unknown_one(system: RunningSystem, org_a: OrgA, key: str, name: str) -> None:
    case = CASES[key]
    target = NODE_OBJECTS.get(name) or SPARE_OBJECTS[name]
    raw = target.raw(org_a)
    owned = to_global_id(target.type_name, raw)
    org_b = uuid.uuid4()
    for roles in ROLE_SETS:
        caller = system.issuer.headers(org=org_b, roles=roles, subject=f"tenancy-b-{uuid.uuid4().hex[:6]}")
        unknown_raw = uuid.uuid4()
        unknown = to_global_id(target.type_name, unknown_raw)
        theirs = _graphql(system, case, case.variables(owned), caller, org_b)
        answer = _graphql(system, case, case.variables(unknown), caller, org_b)
        where = f"{key} on org A's {name} as {role_names(roles)} of another org"
        leaked = raw in json.dumps(theirs) or owned in json.dumps(theirs)
        assert not leaked, f"{where}: the other org's object leaked: {theirs}"
        assert _without(owned, raw, theirs) == _without(unknown, str(unknown_raw), answer), (
            f"{where}: {theirs}\nbut an unknown id answers: {answer}"
        )
        if roles != list(Role):
            continue  # a role that may not use the field at all is refused for any id alike
        if case.kind == "query":
            assert theirs == {"data": {_field_name(theirs): case.missing}}, f"{where}: {theirs}"
        elif case.kind == "mutation":
            assert "errors" not in theirs, f"{where}: {theirs}"
            value = _field(theirs)
            assert _user_errors(value) == ["NotFoundError"], f"{where}: {theirs}"
            assert all(v is None for k, v in value.items() if k != "errors"), f"{where}: {theirs}"
        else:
            codes = [e.get("extensions", {}).get("code") for e in theirs.get("errors", [])]
            assert codes == ["not_found"] and not _field(theirs), f"{where}: {theirs}"

    # The object is real and org A's own caller gets it through the same field (so the above could fail).
    mine = _graphql(system, case, case.variables(owned), org_a.headers[target.owner], org_a.org)
    value = _field(mine)
    assert "errors" not in mine and not _user_errors(value), f"{key} by org A itself: {mine}"
    assert owned in json.dumps(value), f"{key} by org A itself does not answer its {name}: {mine}"

"""The GraphQL API against stand-ins of the services: data, batching, and errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse, PlainTextResponse

from condividi.devstack.infra import free_port
from condividi.networks import NETWORKS
from condividi.testing import Issuer, running
from gateway.clients import ContentClient
from gateway.main import build_app
from gateway.relay import to_global_id
from gateway.tests.conftest import ORG, Gql, curator_headers, employee_headers, error_codes, gateway_settings
from gateway.tests.fakes import METRICS_REACH_NOTE, Downstream, error
from gateway.types import REACH_NOTE
from services.policy.rules import Outcome

FEED = """
query Feed($first: Int, $after: String, $last: Int, $before: String) {
  feed(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id title status suggestedCaption publishedAt
            stats { shares clicks uniqueClicks potentialReach reachNote } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def gid(type_name: str, raw: uuid.UUID | str) -> str:
    return str(to_global_id(type_name, raw))


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_feed_returns_items_with_stats_batched_in_one_metrics_call(gql: Gql, downstream: Downstream) -> None:
    items = [downstream.add_item(minutes_ago=n) for n in range(5)]
    downstream.add_item(published=False)  # a draft never shows in the feed
    downstream.set_stats(items[0].id, shares=3, clicks=10, unique_clicks=7, reach=1200)
    downstream.set_stats(items[2].id, shares=1, clicks=0, unique_clicks=0, reach=300)

    body = await gql(FEED, {"first": 10})

    assert "errors" not in body, body
    feed = body["data"]["feed"]
    assert ids(feed) == [gid("ContentItem", i.id) for i in items]  # newest first, global ids
    assert feed["pageInfo"]["hasNextPage"] is False
    assert feed["pageInfo"]["hasPreviousPage"] is False
    assert feed["pageInfo"]["startCursor"] == feed["edges"][0]["cursor"]
    assert feed["pageInfo"]["endCursor"] == feed["edges"][-1]["cursor"]
    assert feed["edges"][0]["node"]["status"] == "PUBLISHED"
    stats = [e["node"]["stats"] for e in feed["edges"]]
    assert stats[0] == {
        "shares": 3,
        "clicks": 10,
        "uniqueClicks": 7,
        "potentialReach": 1200,
        "reachNote": METRICS_REACH_NOTE,  # the metrics service's own words about its figure
    }
    assert stats[2]["potentialReach"] == 300
    # Unknown to metrics (nobody shared them yet): zeros and the gateway's note, not an error.
    for i in (1, 3, 4):
        assert stats[i] == {
            "shares": 0,
            "clicks": 0,
            "uniqueClicks": 0,
            "potentialReach": 0,
            "reachNote": REACH_NOTE,
        }

    metrics_calls = downstream.calls_to("metrics", "/api/v1/content-stats/batch")
    assert len(metrics_calls) == 1, "stats must be loaded in one batch for the whole feed"
    assert sorted(metrics_calls[0].body["content_ids"]) == sorted(str(i.id) for i in items)
    assert len(downstream.calls_to("content", "/api/v1/feed")) == 1


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_feed_forwards_the_callers_token_request_id_and_trace(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream
) -> None:
    downstream.add_item()
    headers = {**employee_headers(issuer), "X-Request-ID": "req-feed-42", "traceparent": TRACE}

    response = await gateway.post("/graphql", json={"query": FEED}, headers=headers)

    assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert response.headers["x-request-id"] == "req-feed-42"
    for service in ("content", "metrics"):
        (call,) = downstream.calls_to(service, None)
        assert call.headers["authorization"] == headers["Authorization"]
        assert call.headers["x-request-id"] == "req-feed-42"
        # The same trace, sampled as the caller asked, with the gateway's call as the service's parent.
        version, trace_id, parent_id, flags = call.headers["traceparent"].split("-")
        assert (version, trace_id, flags) == tuple(TRACE.split("-")[i] for i in (0, 1, 3))
        assert parent_id != TRACE.split("-")[2]
    assert downstream.calls_to("content")[0].query == {"limit": "20"}  # the default page size


async def test_feed_pages_forward_and_backward_with_opaque_cursors(gql: Gql, downstream: Downstream) -> None:
    items = [gid("ContentItem", downstream.add_item(minutes_ago=n).id) for n in range(5)]

    first = (await gql(FEED, {"first": 2}))["data"]["feed"]
    assert ids(first) == items[:2]
    assert (first["pageInfo"]["hasNextPage"], first["pageInfo"]["hasPreviousPage"]) == (True, False)

    second = (await gql(FEED, {"first": 2, "after": first["pageInfo"]["endCursor"]}))["data"]["feed"]
    assert ids(second) == items[2:4]
    assert (second["pageInfo"]["hasNextPage"], second["pageInfo"]["hasPreviousPage"]) == (True, True)
    # Any edge's cursor resumes right after that edge, not only the page's last one.
    from_middle = (await gql(FEED, {"first": 3, "after": first["edges"][0]["cursor"]}))["data"]["feed"]
    assert ids(from_middle) == items[1:4]

    # Backward: the two items just before the second page's first edge, in the list's order.
    back = (await gql(FEED, {"last": 2, "before": second["pageInfo"]["startCursor"]}))["data"]["feed"]
    assert ids(back) == items[:2]
    assert (back["pageInfo"]["hasNextPage"], back["pageInfo"]["hasPreviousPage"]) == (True, False)
    one_back = (await gql(FEED, {"last": 1, "before": second["pageInfo"]["startCursor"]}))["data"]["feed"]
    assert ids(one_back) == items[1:2]
    assert one_back["pageInfo"]["hasPreviousPage"] is True

    # `last` alone: the end of the list.
    tail = (await gql(FEED, {"last": 2}))["data"]["feed"]
    assert ids(tail) == items[3:]
    assert (tail["pageInfo"]["hasNextPage"], tail["pageInfo"]["hasPreviousPage"]) == (False, True)
    assert downstream.calls_to("content", "/api/v1/feed")[-1].query == {"limit": "2", "before": ""}


@pytest.mark.parametrize(
    ("variables", "loc", "message"),
    [
        ({"first": 1000}, "first", "must be between 1 and 100"),
        ({"first": 101}, "first", "must be between 1 and 100"),
        ({"first": 0}, "first", "must be between 1 and 100"),
        ({"first": -1}, "first", "must be between 1 and 100"),
        ({"last": -3}, "last", "must be between 1 and 100"),
        ({"first": 2, "last": 2}, "last", "pass first (with after) or last (with before), not both"),
    ],
)
async def test_feed_page_arguments_out_of_range_are_validation_failed(
    gql: Gql, downstream: Downstream, variables: dict[str, Any], loc: str, message: str
) -> None:
    body = await gql(FEED, variables)

    assert body["data"] == {"feed": None}
    (err,) = body["errors"]
    assert err["extensions"] == {
        "code": "validation_failed",
        "status": 422,
        "details": [{"loc": [loc], "message": message}],
    }
    assert err["path"] == ["feed"]
    assert downstream.calls_to("content") == [], "an invalid page size must not reach the service"


async def test_a_forged_or_foreign_cursor_is_a_client_error(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    item = downstream.add_item()
    downstream.add_share(content_id=item.id)
    downstream.add_share(content_id=item.id)
    shares = (await gql("{ myShares(first: 1) { pageInfo { endCursor } } }"))["data"]["myShares"]
    foreign = shares["pageInfo"]["endCursor"]

    for cursor in ("garbage!", "eyJub3QiOiAiYSBjdXJzb3IifQ", foreign):
        body = await gql(FEED, {"first": 2, "after": cursor})
        assert body["data"] == {"feed": None}, cursor
        assert error_codes(body) == ["invalid_cursor"], body
        assert body["errors"][0]["extensions"]["status"] == 400
    assert "another list" in body["errors"][0]["message"]
    assert downstream.calls_to("content") == [], "a bad cursor must not reach the service"


async def test_my_shares_first_above_100_is_validation_failed(gql: Gql, downstream: Downstream) -> None:
    body = await gql("{ myShares(first: 1000) { edges { node { id } } } }")
    assert body["data"] == {"myShares": None}
    assert error_codes(body) == ["validation_failed"]
    assert downstream.calls_to("sharing") == []


async def test_missing_token_is_unauthenticated(gql: Gql, downstream: Downstream) -> None:
    body = await gql('{ me { subject } feed { edges { cursor } } node(id: "x") { id } }', headers={})

    assert body["data"] == {"me": None, "feed": None, "node": None}
    assert error_codes(body) == ["unauthenticated"] * 3
    assert body["errors"][0]["extensions"]["status"] == 401
    assert "bearer token is required" in body["errors"][0]["message"]
    assert downstream.calls == [], "nothing reaches a service without a valid token"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_invalid_token_is_unauthenticated(gql: Gql, downstream: Downstream, authorization: str) -> None:
    body = await gql("{ feed { edges { cursor } } }", headers={"Authorization": authorization})

    assert body["data"] == {"feed": None}
    assert error_codes(body) == ["unauthenticated"]
    assert downstream.calls == []


async def test_expired_or_foreign_token_is_unauthenticated(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    expired = issuer.headers(org=ORG, roles=["employee"], ttl_seconds=-3600)
    wrong_audience = issuer.headers(org=ORG, roles=["employee"], aud="someone-else")

    for headers, words in ((expired, "expired"), (wrong_audience, "audience")):
        body = await gql("{ me { subject } }", headers=headers)
        assert body["data"] == {"me": None}
        assert error_codes(body) == ["unauthenticated"]
        assert words in body["errors"][0]["message"]


async def test_me_answers_from_the_token_and_the_roster(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    headers = issuer.headers(
        org=ORG, roles=["employee", "curator"], subject="sub-7", name="Ada Rossi", email="ada@acme.example"
    )
    body = await gql("{ me { subject orgId roles name email } }", headers=headers)

    assert "errors" not in body, body
    assert body["data"]["me"] == {
        "subject": "sub-7",
        "orgId": ORG,
        "roles": ["CURATOR", "EMPLOYEE"],
        "name": "Ada Rossi",
        "email": "ada@acme.example",
    }
    # Issue 6: the roles are checked against the caller's roster entry (none yet: the token's stand).
    assert [c.path for c in downstream.calls] == ["/api/v1/members/me"]

    query = "{ me { member { id subject roles team { id name } } } }"
    assert (await gql(query, headers=headers))["data"]["me"] == {"member": None}  # not on the roster yet
    team = downstream.add_team("Sales")
    member = downstream.add_member("sub-7", roles=["employee", "curator"], team_id=team.id)
    listed = await gql(query, headers=headers)
    assert "errors" not in listed, listed
    assert listed["data"]["me"]["member"] == {
        "id": gid("Member", member.id),
        "subject": "sub-7",
        "roles": ["CURATOR", "EMPLOYEE"],
        "team": {"id": gid("Team", team.id), "name": "Sales"},
    }

    # A token claiming more than the roster grants shows only what the roster grants.
    downstream.add_member("sub-8", roles=["employee"])
    climber = issuer.headers(org=ORG, roles=["employee", "admin"], subject="sub-8")
    assert (await gql("{ me { roles } }", headers=climber))["data"]["me"]["roles"] == ["EMPLOYEE"]


NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on ContentItem { title } ... on Share { text } ... on ShareDecision { outcome }
  ... on SocialAccount { handle } ... on Team { name } ... on Member { subject } } }"""


async def test_node_refetches_every_node_type_by_its_global_id(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item = downstream.add_item(title="Plant")
    share = downstream.add_share(content_id=item.id, text="my words")
    downstream.decide(share.id, Outcome.APPROVED)
    team = downstream.add_team("Sales")
    member = downstream.add_member("employee-1")
    created = await gql(
        'mutation { createSocialAccount(input: {network: X, handle: "@me", audienceSize: 10})'
        " { socialAccount { id } errors { message } } }"
    )
    connection_id = created["data"]["createSocialAccount"]["socialAccount"]["id"]

    expected = {
        gid("ContentItem", item.id): ("ContentItem", "title", "Plant"),
        gid("Share", share.id): ("Share", "text", "my words"),
        gid("ShareDecision", share.id): ("ShareDecision", "outcome", "APPROVED"),
        connection_id: ("SocialAccount", "handle", "@me"),
        gid("Team", team.id): ("Team", "name", "Sales"),
        gid("Member", member.id): ("Member", "subject", "employee-1"),
    }
    for global_id, (type_name, field, value) in expected.items():
        body = await gql(NODE, {"id": global_id})
        assert "errors" not in body, body
        assert body["data"]["node"] == {"__typename": type_name, "id": global_id, field: value}


async def test_node_answers_null_alike_for_unknown_foreign_malformed_and_wrong_type_ids(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item = downstream.add_item()
    share = downstream.add_share(member="someone-else", content_id=item.id)  # not the caller's
    draft = downstream.add_item(published=False)  # an employee cannot see drafts
    candidates = [
        gid("ContentItem", uuid.uuid4()),  # unknown (another org's answers 404 from the service alike)
        gid("Share", share.id),  # another employee's
        gid("ContentItem", draft.id),
        gid("Team", uuid.uuid4()),
        gid("Member", uuid.uuid4()),
        gid("ShareDecision", share.id),
        gid("SocialAccount", uuid.uuid4()),
        gid("Nonsense", uuid.uuid4()),  # a type that does not exist
        "not-a-global-id",
        "",
        str(item.id),  # a raw id is not a global id
    ]
    for value in candidates:
        body = await gql(NODE, {"id": value})
        assert body == {"data": {"node": None}}, (value, body)

    nodes = await gql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [candidates[0], gid("ContentItem", item.id), "garbage", gid("ContentItem", item.id)]},
    )
    assert nodes == {
        "data": {"nodes": [None, {"id": gid("ContentItem", item.id)}, None, {"id": gid("ContentItem", item.id)}]}
    }
    # The typed lookups behave the same.
    typed = await gql(
        "query($a: ID!, $b: ID!) { contentItem(id: $a) { id } share(id: $b) { id } }",
        {"a": gid("Share", share.id), "b": gid("Share", share.id)},
    )
    assert typed == {"data": {"contentItem": None, "share": None}}


async def test_nodes_refuses_more_than_100_ids(gql: Gql, downstream: Downstream) -> None:
    body = await gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["x"] * 101})
    assert body["data"] is None or body["data"] == {"nodes": None}
    assert error_codes(body) == ["validation_failed"]


async def test_content_item_unknown_answers_null(gql: Gql, downstream: Downstream) -> None:
    missing = uuid.UUID("0b5e2f7e-93c6-4c2b-9c55-7d1f1b2d9a10")
    body = await gql("query($id: ID!) { contentItem(id: $id) { id } }", {"id": gid("ContentItem", missing)})

    assert body == {"data": {"contentItem": None}}
    assert [c.path for c in downstream.calls_to("content")] == [f"/api/v1/content-items/{missing}"]


async def test_malformed_id_is_refused_before_any_call(gql: Gql, downstream: Downstream) -> None:
    body = await gql('{ contentItem(id: "../feed") { id } }')

    assert body == {"data": {"contentItem": None}}
    assert downstream.calls == []


CREATE = """mutation($input: CreateContentItemInput!) {
  createContentItem(input: $input) {
    contentItem { id title url status suggestedCaption stats { shares } }
    errors { __typename message path ... on ValidationError { code } } } }"""
PUBLISH = """mutation($id: ID!) { publishContentItem(input: {id: $id}) {
  contentItem { id status publishedAt }
  errors { __typename message path ... on ConflictError { code } } } }"""


async def test_create_publish_and_publish_again_is_a_typed_conflict(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item_input = {"title": "Our new plant", "url": "https://acme.example/plant", "suggestedCaption": "Proud!"}

    created = await gql(CREATE, {"input": item_input}, headers=curator_headers(issuer))
    assert "errors" not in created, created
    payload = created["data"]["createContentItem"]
    assert payload["errors"] == []
    item = payload["contentItem"]
    assert (item["title"], item["status"], item["suggestedCaption"]) == ("Our new plant", "DRAFT", "Proud!")
    assert item["stats"] == {"shares": 0}
    assert downstream.calls_to("content", "/api/v1/content-items")[0].body == {
        "title": "Our new plant",
        "url": "https://acme.example/plant",
        "suggested_caption": "Proud!",
    }

    published = await gql(PUBLISH, {"id": item["id"]}, headers=curator_headers(issuer))
    assert "errors" not in published, published
    assert published["data"]["publishContentItem"]["contentItem"]["status"] == "PUBLISHED"
    assert published["data"]["publishContentItem"]["errors"] == []

    again = await gql(PUBLISH, {"id": item["id"]}, headers=curator_headers(issuer))
    assert "errors" not in again, again
    assert again["data"]["publishContentItem"] == {
        "contentItem": None,
        "errors": [
            {
                "__typename": "ConflictError",
                "message": "the content item is already published",
                "path": None,
                "code": "conflict",
            }
        ],
    }

    unknown = await gql(PUBLISH, {"id": gid("ContentItem", uuid.uuid4())}, headers=curator_headers(issuer))
    assert unknown["data"]["publishContentItem"]["errors"] == [
        {"__typename": "NotFoundError", "message": "content item not found", "path": ["input", "id"]}
    ]


async def test_validation_errors_carry_the_path_in_graphql_input_terms(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    # Refused by the content service's own model, in the gateway, before any call.
    body = await gql(CREATE, {"input": {"title": " ", "url": "https://acme.example"}}, headers=curator_headers(issuer))
    assert body["data"]["createContentItem"] == {
        "contentItem": None,
        "errors": [
            {
                "__typename": "ValidationError",
                "message": "Value error, the title is blank",
                "path": ["input", "title"],
                "code": "validation_failed",
            }
        ],
    }
    assert downstream.calls_to("content") == []

    # The service's own 422 (loc ["body", ...]) is mapped the same way.
    downstream.overrides[("content", "/api/v1/content-items")] = error(
        422,
        "validation_failed",
        "the request is not valid",
        [{"loc": ["body", "suggested_caption"], "message": "too long"}],
    )
    body = await gql(CREATE, {"input": {"title": "ok", "url": "https://acme.example"}}, headers=curator_headers(issuer))
    (err,) = body["data"]["createContentItem"]["errors"]
    assert (err["__typename"], err["path"], err["message"]) == (
        "ValidationError",
        ["input", "suggestedCaption"],
        "too long",
    )
    assert "body" not in str(body)


async def test_employee_cannot_create_content(gql: Gql, downstream: Downstream) -> None:
    body = await gql(CREATE, {"input": {"title": "x", "url": "https://a.example"}})
    assert body["data"]["createContentItem"] == {
        "contentItem": None,
        "errors": [
            {
                "__typename": "PermissionDeniedError",
                "message": "this needs one of the roles: curator, admin",
                "path": None,
            }
        ],
    }


async def test_mutations_need_a_token_and_say_so_at_the_top_level(gql: Gql, downstream: Downstream) -> None:
    body = await gql(CREATE, {"input": {"title": "x", "url": "https://a.example"}}, headers={})
    assert body["data"] is None
    assert error_codes(body) == ["unauthenticated"]


CHECK = """query($network: Network!, $text: String!) {
  checkPost(network: $network, text: $text) { allowed outcome violations { code message } length limit } }"""


async def test_check_post_takes_the_network_enum_and_asks_the_policy_service(gql: Gql, downstream: Downstream) -> None:
    ok = await gql(CHECK, {"network": "X", "text": "Proud of our new plant"})
    assert "errors" not in ok, ok
    assert ok["data"]["checkPost"] == {
        "allowed": True,
        "outcome": "APPROVED",
        "violations": [],
        "length": 22 + 1 + 23,  # X counts the tracking link the share will carry as 23
        "limit": 280,
    }

    bad = await gql(CHECK, {"network": "X", "text": "long " * 60})
    assert "errors" not in bad, bad
    assert bad["data"]["checkPost"]["allowed"] is False
    assert bad["data"]["checkPost"]["outcome"] == "REJECTED"
    assert [v["code"] for v in bad["data"]["checkPost"]["violations"]] == ["too_long"]
    assert [c.body["network"] for c in downstream.calls_to("policy", "/api/v1/policy-checks")] == ["x", "x"]

    # A network outside the table is not even a value of the enum: the document is refused.
    for name in ("INSTAGRAM", "PINTEREST"):
        refused = await gql(f'{{ checkPost(network: {name}, text: "hi") {{ allowed }} }}')
        assert refused.get("data") is None
        assert error_codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]
    assert len(downstream.calls_to("policy")) == 2


async def test_check_post_refusals_name_the_argument(gql: Gql, downstream: Downstream) -> None:
    body = await gql('{ checkPost(network: X, text: "hi", url: "ftp://files.example/x") { allowed } }')

    assert body["data"] == {"checkPost": None}
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "validation_failed"
    assert [d["loc"] for d in err["extensions"]["details"]] == [["url"]]
    assert downstream.calls_to("policy") == [], "refused with the policy service's own model, before any call"


async def test_networks_query_exposes_the_one_networks_table(gql: Gql, downstream: Downstream) -> None:
    body = await gql("{ networks { name displayName maxLength counting intentKeepsText apiPublisher } }")

    assert "errors" not in body, body
    assert body["data"]["networks"] == [
        {
            "name": spec.network.name,
            "displayName": spec.display_name,
            "maxLength": spec.max_length,
            "counting": spec.counting.name,
            "intentKeepsText": spec.intent_keeps_text,
            "apiPublisher": spec.api_publisher,
        }
        for spec in NETWORKS.values()
    ]
    enum = await gql('{ __type(name: "Network") { enumValues { name } } }')
    assert [v["name"] for v in enum["data"]["__type"]["enumValues"]] == [n.name for n in NETWORKS]


SHARE = """mutation($input: ShareContentInput!) { shareContent(input: $input) {
  share { id contentId network text status violations { code } publishMethod intentUrl intentKeepsText
          trackingUrl potentialReach createdAt content { id title } decision { outcome } }
  errors { __typename message path
           ... on ValidationError { code }
           ... on ConflictError { code conflicting { __typename id ... on Share { text status } } }
           ... on PolicyRejectedError { violations { code message } } } } }"""


async def test_share_content_then_read_it_back(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    item = downstream.add_item(title="Plant")
    content_id = gid("ContentItem", item.id)
    shared = await gql(SHARE, {"input": {"contentId": content_id, "network": "LINKEDIN", "text": "In my words"}})
    assert "errors" not in shared, shared
    payload = shared["data"]["shareContent"]
    assert payload["errors"] == []
    share = payload["share"]
    assert share["status"] == "PENDING_POLICY"
    assert (share["contentId"], share["network"], share["text"]) == (content_id, "LINKEDIN", "In my words")
    assert share["content"] == {"id": content_id, "title": "Plant"}
    assert share["decision"] is None  # policy has not decided yet
    assert (share["publishMethod"], share["intentUrl"], share["violations"]) == (None, None, [])
    assert share["intentKeepsText"] is False
    # The live check ran first, then the share was recorded.
    assert [c.service for c in downstream.calls if c.method == "POST"] == ["policy", "sharing"]
    (create,) = downstream.calls_to("sharing", "/api/v1/shares")
    assert create.body == {"content_id": str(item.id), "network": "linkedin", "text": "In my words"}
    assert "idempotency-key" not in create.headers

    again = await gql("query($id: ID!) { share(id: $id) { id status } }", {"id": share["id"]})
    assert again["data"]["share"] == {"id": share["id"], "status": "PENDING_POLICY"}

    mine = await gql("{ myShares(first: 5) { edges { node { id } } pageInfo { hasNextPage } } }")
    assert mine["data"]["myShares"] == {"edges": [{"node": {"id": share["id"]}}], "pageInfo": {"hasNextPage": False}}
    assert downstream.calls_to("sharing", "/api/v1/shares")[-1].query == {"limit": "5"}

    other_item = downstream.add_item()
    of_item = await gql(
        "query($c: ID) { myShares(contentId: $c) { edges { node { id } } } }", {"c": gid("ContentItem", other_item.id)}
    )
    assert of_item["data"]["myShares"] == {"edges": []}
    assert downstream.calls_to("sharing", "/api/v1/shares")[-1].query == {
        "limit": "20",
        "content_id": str(other_item.id),
    }

    others = await gql("{ myShares { edges { node { id } } } }", headers=employee_headers(issuer, "someone-else"))
    assert others["data"]["myShares"] == {"edges": []}


async def test_share_decision_with_its_reasons_is_a_field_of_share(gql: Gql, downstream: Downstream) -> None:
    share = downstream.add_share(text="x" * 300)
    downstream.update_share(share.id, status="rejected", violations=[{"code": "too_long", "message": "too long"}])
    downstream.decide(share.id, Outcome.REJECTED, ("too_long", "The post is 324 characters; X allows 280."))

    body = await gql(
        "query($id: ID!) { share(id: $id) { status decision { id shareId outcome violations { code message } } } }",
        {"id": gid("Share", share.id)},
    )

    assert "errors" not in body, body
    assert body["data"]["share"] == {
        "status": "REJECTED",
        "decision": {
            "id": gid("ShareDecision", share.id),
            "shareId": gid("Share", share.id),
            "outcome": "REJECTED",
            "violations": [{"code": "too_long", "message": "The post is 324 characters; X allows 280."}],
        },
    }


async def test_blank_text_is_a_validation_error_before_any_call(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    for text in ("", "   ", "\n\t"):
        body = await gql(SHARE, {"input": {"contentId": gid("ContentItem", item.id), "network": "X", "text": text}})
        assert body["data"]["shareContent"] == {
            "share": None,
            "errors": [
                {
                    "__typename": "ValidationError",
                    "message": "the text is empty or blank: write the post in your own words",
                    "path": ["input", "text"],
                    "code": "validation_failed",
                }
            ],
        }
    assert downstream.calls == []


async def test_blank_text_refused_by_sharing_maps_to_the_input_path(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    downstream.overrides[("sharing", "/api/v1/shares")] = error(
        422, "validation_failed", "the request is not valid", [{"loc": ["body", "text"], "message": "blank"}]
    )
    body = await gql(SHARE, {"input": {"contentId": gid("ContentItem", item.id), "network": "X", "text": "ok"}})
    assert body["data"]["shareContent"]["errors"] == [
        {"__typename": "ValidationError", "message": "blank", "path": ["input", "text"], "code": "validation_failed"}
    ]


async def test_a_post_the_policy_refuses_records_no_share(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    body = await gql(SHARE, {"input": {"contentId": gid("ContentItem", item.id), "network": "X", "text": "y" * 281}})

    (err,) = body["data"]["shareContent"]["errors"]
    assert body["data"]["shareContent"]["share"] is None
    assert (err["__typename"], err["path"], err["message"]) == (
        "PolicyRejectedError",
        ["input", "text"],
        "the policy refuses this post",
    )
    assert [v["code"] for v in err["violations"]] == ["too_long"]
    assert "X allows 280" in err["violations"][0]["message"]
    assert downstream.calls_to("sharing") == [], "a rejected post must not be recorded"
    assert downstream.shares == {}


async def test_unknown_content_is_not_found_at_its_input_path(gql: Gql, downstream: Downstream) -> None:
    unknown = await gql(SHARE, {"input": {"contentId": gid("ContentItem", uuid.uuid4()), "network": "X", "text": "a"}})
    assert unknown["data"]["shareContent"]["errors"] == [
        {"__typename": "NotFoundError", "message": "content item not found", "path": ["input", "contentId"]}
    ]
    wrong_type = await gql(SHARE, {"input": {"contentId": gid("Share", uuid.uuid4()), "network": "X", "text": "a"}})
    (err,) = wrong_type["data"]["shareContent"]["errors"]
    assert (err["__typename"], err["path"]) == ("ValidationError", ["input", "contentId"])


async def test_a_duplicate_share_is_a_conflict_naming_the_existing_share(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    share_input = {"contentId": gid("ContentItem", item.id), "network": "X", "text": "first words"}
    first = (await gql(SHARE, {"input": share_input}))["data"]["shareContent"]["share"]

    second = await gql(SHARE, {"input": {**share_input, "text": "the same again"}})

    assert second["data"]["shareContent"]["share"] is None
    assert second["data"]["shareContent"]["errors"] == [
        {
            "__typename": "ConflictError",
            "message": "you already shared this item to x",
            "path": None,
            "code": "duplicate_share",
            "conflicting": {
                "__typename": "Share",
                "id": first["id"],
                "text": "first words",
                "status": "PENDING_POLICY",
            },
        }
    ]
    assert len(downstream.shares) == 1


async def test_an_idempotency_key_makes_a_retry_answer_the_first_share(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    share_input = {
        "contentId": gid("ContentItem", item.id),
        "network": "X",
        "text": "only once",
        "idempotencyKey": "retry-7f3a",
    }

    first = (await gql(SHARE, {"input": share_input}))["data"]["shareContent"]
    retry = (await gql(SHARE, {"input": share_input}))["data"]["shareContent"]

    assert first["errors"] == retry["errors"] == []
    assert retry["share"]["id"] == first["share"]["id"]
    assert len(downstream.shares) == 1
    calls = downstream.calls_to("sharing", "/api/v1/shares")
    assert [c.headers.get("idempotency-key") for c in calls] == ["retry-7f3a", "retry-7f3a"]

    reused = (await gql(SHARE, {"input": {**share_input, "text": "something else"}}))["data"]["shareContent"]
    (err,) = reused["errors"]
    assert (err["__typename"], err["path"], err["code"]) == (
        "ValidationError",
        ["input", "idempotencyKey"],
        "idempotency_key_reused",
    )

    for bad_key in ("", "x" * 256, "has space", "caffè"):
        bad = (await gql(SHARE, {"input": {**share_input, "idempotencyKey": bad_key}}))["data"]["shareContent"]
        assert [e["path"] for e in bad["errors"]] == [["input", "idempotencyKey"]], bad_key
    assert len(downstream.calls_to("sharing", "/api/v1/shares")) == 3


CONNECTIONS = """query($first: Int, $after: String, $last: Int, $before: String) {
  socialAccounts(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id network handle audienceSize } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
CONNECT = """mutation($input: CreateSocialAccountInput!) { createSocialAccount(input: $input) {
  socialAccount { id network handle audienceSize } errors { __typename message path } } }"""
DISCONNECT = """mutation($id: ID!) { deleteSocialAccount(input: {id: $id}) {
  deletedId errors { __typename message path } } }"""


async def test_social_accounts_can_be_created_listed_in_pages_and_deleted(gql: Gql, downstream: Downstream) -> None:
    made = {}
    for network, handle, audience in (("X", "@ada", 900), ("LINKEDIN", "ada-r", 500), ("BLUESKY", "ada.bsky", 80)):
        body = await gql(CONNECT, {"input": {"network": network, "handle": handle, "audienceSize": audience}})
        assert body["data"]["createSocialAccount"]["errors"] == [], body
        made[network] = body["data"]["createSocialAccount"]["socialAccount"]
    assert made["X"] == {"id": made["X"]["id"], "network": "X", "handle": "@ada", "audienceSize": 900}

    duplicate = await gql(CONNECT, {"input": {"network": "X", "handle": "@other", "audienceSize": 1}})
    assert [e["__typename"] for e in duplicate["data"]["createSocialAccount"]["errors"]] == ["ConflictError"]
    negative = await gql(CONNECT, {"input": {"network": "X", "handle": "@ada", "audienceSize": -1}})
    assert [e["path"] for e in negative["data"]["createSocialAccount"]["errors"]] == [["input", "audienceSize"]]

    page = (await gql(CONNECTIONS, {"first": 2}))["data"]["socialAccounts"]
    assert [e["node"]["network"] for e in page["edges"]] == ["BLUESKY", "LINKEDIN"]  # by network name
    assert (page["pageInfo"]["hasNextPage"], page["pageInfo"]["hasPreviousPage"]) == (True, False)
    rest = (await gql(CONNECTIONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}))["data"]["socialAccounts"]
    assert [e["node"]["network"] for e in rest["edges"]] == ["X"]
    assert (rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"]) == (False, True)
    back = (await gql(CONNECTIONS, {"last": 1, "before": rest["pageInfo"]["startCursor"]}))["data"]
    assert [e["node"]["network"] for e in back["socialAccounts"]["edges"]] == ["LINKEDIN"]
    foreign = await gql(CONNECTIONS, {"first": 1, "after": "eyJhIjoxfQ"})
    assert error_codes(foreign) == ["invalid_cursor"]

    deleted = await gql(DISCONNECT, {"id": made["X"]["id"]})
    assert deleted["data"]["deleteSocialAccount"] == {"deletedId": made["X"]["id"], "errors": []}
    again = await gql(DISCONNECT, {"id": made["X"]["id"]})
    assert again["data"]["deleteSocialAccount"] == {
        "deletedId": None,
        "errors": [{"__typename": "NotFoundError", "message": "connection not found", "path": ["input", "id"]}],
    }
    left = (await gql(CONNECTIONS, {}))["data"]["socialAccounts"]
    assert [e["node"]["network"] for e in left["edges"]] == ["BLUESKY", "LINKEDIN"]


CONNECT_CONFLICT = """mutation($input: CreateSocialAccountInput!) { createSocialAccount(input: $input) {
  socialAccount { id } errors { __typename message path
  ... on ConflictError { code conflicting { id ... on SocialAccount { handle } } } } } }"""


async def test_a_second_connection_to_a_network_is_a_conflict_naming_the_first(
    gql: Gql, downstream: Downstream
) -> None:
    first = await gql(CONNECT, {"input": {"network": "X", "handle": "@ada", "audienceSize": 900}})
    existing = first["data"]["createSocialAccount"]["socialAccount"]
    again = await gql(CONNECT_CONFLICT, {"input": {"network": "X", "handle": "@other", "audienceSize": 1}})
    assert again["data"]["createSocialAccount"]["socialAccount"] is None
    [error] = again["data"]["createSocialAccount"]["errors"]
    assert error["__typename"] == "ConflictError" and error["path"] == ["input", "network"]
    assert error["conflicting"] == {"id": existing["id"], "handle": "@ada"}


async def test_an_admin_builds_the_roster_and_reads_it_in_pages(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    admin = issuer.headers(org=ORG, roles=["admin"], subject="admin-1")
    team = await gql(
        'mutation { createTeam(input: {name: "Sales"}) { team { id name } errors { __typename } } }', headers=admin
    )
    team_id = team["data"]["createTeam"]["team"]["id"]
    assert team["data"]["createTeam"] == {"team": {"id": team_id, "name": "Sales"}, "errors": []}

    create_member = """mutation($input: CreateMemberInput!) { createMember(input: $input) {
      member { id subject roles team { id } } errors { __typename message path } } }"""
    member_input = {"subject": "alice", "email": "alice@acme.example", "name": "Alice", "roles": ["EMPLOYEE"]}
    alice = await gql(create_member, {"input": {**member_input, "teamId": team_id}}, headers=admin)
    assert alice["data"]["createMember"]["errors"] == [], alice
    assert alice["data"]["createMember"]["member"]["team"] == {"id": team_id}
    assert alice["data"]["createMember"]["member"]["roles"] == ["EMPLOYEE"]
    for n in range(3):
        extra = {**member_input, "subject": f"m{n}", "email": f"m{n}@acme.example"}
        assert (await gql(create_member, {"input": extra}, headers=admin))["data"]["createMember"]["errors"] == []

    bad_email = await gql(create_member, {"input": {**member_input, "subject": "z", "email": "nope"}}, headers=admin)
    assert [e["path"] for e in bad_email["data"]["createMember"]["errors"]] == [["input", "email"]]
    bad_team = await gql(
        create_member,
        {"input": {**member_input, "subject": "y", "teamId": gid("Team", uuid.uuid4())}},
        headers=admin,
    )
    assert bad_team["data"]["createMember"]["errors"] == [
        {"__typename": "NotFoundError", "message": "team not found", "path": ["input", "teamId"]}
    ]
    conflict = """mutation($input: CreateMemberInput!) { createMember(input: $input) {
      member { id } errors { __typename path ... on ConflictError { conflicting { id } } } } }"""
    alice_again = await gql(conflict, {"input": member_input}, headers=admin)
    assert alice_again["data"]["createMember"]["errors"] == [
        {
            "__typename": "ConflictError",
            "path": ["input", "subject"],
            "conflicting": {"id": alice["data"]["createMember"]["member"]["id"]},
        }
    ]
    sales_again = await gql(
        'mutation { createTeam(input: {name: "Sales"}) { team { id } errors { __typename path '
        "... on ConflictError { conflicting { id } } } } }",
        headers=admin,
    )
    assert sales_again["data"]["createTeam"]["errors"] == [
        {"__typename": "ConflictError", "path": ["input", "name"], "conflicting": {"id": team_id}}
    ]
    employee_try = await gql(create_member, {"input": {**member_input, "subject": "x"}})
    assert [e["__typename"] for e in employee_try["data"]["createMember"]["errors"]] == ["PermissionDeniedError"]

    members = """query($after: String) { members(first: 3, after: $after) {
      edges { node { subject } } pageInfo { hasNextPage endCursor } } }"""
    page = (await gql(members, {}, headers=admin))["data"]["members"]
    assert [e["node"]["subject"] for e in page["edges"]] == ["alice", "m0", "m1"]  # oldest first
    rest = (await gql(members, {"after": page["pageInfo"]["endCursor"]}, headers=admin))["data"]["members"]
    assert [e["node"]["subject"] for e in rest["edges"]] == ["m2"]
    # The roster is for admins and managers: an employee gets the service's refusal.
    refused = await gql(members, {})
    assert refused["data"] == {"members": None}
    assert error_codes(refused) == ["forbidden"]

    teams = await gql("{ teams(last: 5) { edges { node { id name } } } }")
    assert teams["data"]["teams"]["edges"] == [{"node": {"id": team_id, "name": "Sales"}}]


async def test_org_summary_for_those_who_may_read_it(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    first, second = downstream.add_item(), downstream.add_item()
    downstream.set_stats(first.id, shares=2, clicks=5, unique_clicks=4, reach=700)
    downstream.set_stats(second.id, shares=1, clicks=1, unique_clicks=1, reach=50)
    query = "{ orgSummary { contentItems shares clicks uniqueClicks potentialReach reachNote } }"

    summary = await gql(query, headers=curator_headers(issuer))
    assert "errors" not in summary, summary
    assert {k: v for k, v in summary["data"]["orgSummary"].items() if k != "reachNote"} == {
        "contentItems": 2,
        "shares": 3,
        "clicks": 6,
        "uniqueClicks": 5,
        "potentialReach": 750,
    }
    assert summary["data"]["orgSummary"]["reachNote"]
    refused = await gql(query)
    assert refused["data"] == {"orgSummary": None}
    assert error_codes(refused) == ["forbidden"]


async def test_service_down_is_service_unavailable(issuer: Issuer, downstream: Downstream, gql: Gql) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = gateway_settings(issuer, downstream, POLICY_SERVICE_URL=dead, METRICS_SERVICE_URL=dead)
    downstream.add_item()
    async with running(build_app(settings)) as client:
        check = await gql('{ checkPost(network: X, text: "hi") { allowed } }', client=client)
        feed = await gql("{ feed { edges { node { id stats { shares } } } } }", client=client)
        me = await gql("{ me { subject } }", client=client)

    assert check["data"] == {"checkPost": None}
    assert check["errors"][0]["extensions"] == {"code": "service_unavailable", "status": 503, "details": []}
    assert "policy service" in check["errors"][0]["message"]
    # A metrics outage nulls only the stats (one error per item): the feed itself still arrives.
    assert feed["data"]["feed"]["edges"][0]["node"]["stats"] is None
    assert feed["data"]["feed"]["edges"][0]["node"]["id"]
    assert set(error_codes(feed)) == {"service_unavailable"}
    assert feed["errors"][0]["path"] == ["feed", "edges", 0, "node", "stats"]
    # What needs no service still answers.
    assert me["data"]["me"]["subject"] == "employee-1"


@pytest.mark.parametrize(
    ("response", "code", "status"),
    [
        (
            PlainTextResponse("Traceback (most recent call last):\n  secret.py line 1", status_code=500),
            "bad_gateway",
            502,
        ),
        (PlainTextResponse("<html>Bad Gateway</html>", status_code=502), "service_unavailable", 503),
        (
            JSONResponse({"items": [{"id": 1}], "next_cursor": None}),
            "bad_gateway",
            502,
        ),  # breaks the contract
        (error(500, "internal", "an unexpected error occurred; it has been logged"), "internal", 500),
    ],
)
async def test_broken_service_answers_never_leak(
    gql: Gql, downstream: Downstream, response: Any, code: str, status: int
) -> None:
    downstream.overrides[("content", "/api/v1/feed")] = response

    body = await gql("{ feed { edges { node { id } } } }")

    assert body["data"] == {"feed": None}
    (err,) = body["errors"]
    assert err["extensions"] == {"code": code, "status": status, "details": []}
    assert "Traceback" not in str(body) and "secret" not in str(body)


async def test_unexpected_gateway_failure_is_masked(
    gql: Gql, downstream: Downstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(ContentClient, "feed", broken)

    body = await gql("{ feed { edges { node { id } } } me { subject } }")

    assert body["data"] == {"feed": None, "me": {"subject": "employee-1"}}
    (err,) = body["errors"]
    assert err["extensions"] == {"code": "internal", "status": 500, "details": []}
    assert err["message"] == "an unexpected error occurred; it has been logged"
    assert "hunter2" not in str(body)


async def test_invalid_documents_have_graphql_codes(gql: Gql, downstream: Downstream) -> None:
    syntax = await gql("{ feed { edges { cursor }")
    unknown = await gql("{ feed { edges { secretField } } }")

    assert error_codes(syntax) == ["GRAPHQL_PARSE_FAILED"]
    assert error_codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    assert unknown["errors"][0]["extensions"]["status"] == 400
    assert downstream.calls == []

"""The GraphQL API against stand-ins of the services: data, batching, and errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse, PlainTextResponse

from condividi.devstack.infra import free_port
from condividi.testing import Issuer, running
from gateway.clients import ContentClient
from gateway.main import build_app
from gateway.schema import REACH_NOTE
from gateway.tests.conftest import ORG, Gql, curator_headers, employee_headers, error_codes, gateway_settings
from gateway.tests.fakes import METRICS_REACH_NOTE, Downstream, error

FEED = """
query Feed($first: Int, $after: String) {
  feed(first: $first, after: $after) {
    items { id title status suggestedCaption publishedAt
            stats { shares clicks uniqueClicks potentialReach reachNote } }
    nextCursor
  }
}
"""


async def test_feed_returns_items_with_stats_batched_in_one_metrics_call(gql: Gql, downstream: Downstream) -> None:
    items = [downstream.add_item(minutes_ago=n) for n in range(5)]
    downstream.add_item(published=False)  # a draft never shows in the feed
    downstream.set_stats(items[0]["id"], shares=3, clicks=10, unique_clicks=7, reach=1200)
    downstream.set_stats(items[2]["id"], shares=1, clicks=0, unique_clicks=0, reach=300)

    body = await gql(FEED, {"first": 10})

    assert "errors" not in body, body
    feed = body["data"]["feed"]
    assert [i["id"] for i in feed["items"]] == [i["id"] for i in items]  # newest first
    assert feed["nextCursor"] is None
    assert feed["items"][0]["status"] == "PUBLISHED"
    stats = [i["stats"] for i in feed["items"]]
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
    assert sorted(metrics_calls[0].body["content_ids"]) == sorted(i["id"] for i in items)
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
        assert call.headers["traceparent"] == TRACE
    assert downstream.calls_to("content")[0].query == {"limit": "20"}  # the default page size


async def test_feed_pages_with_the_services_cursor(gql: Gql, downstream: Downstream) -> None:
    items = [downstream.add_item(minutes_ago=n) for n in range(3)]

    first = await gql(FEED, {"first": 2})
    assert "errors" not in first, first
    assert [i["id"] for i in first["data"]["feed"]["items"]] == [items[0]["id"], items[1]["id"]]
    cursor = first["data"]["feed"]["nextCursor"]
    assert cursor

    second = await gql(FEED, {"first": 2, "after": cursor})
    assert "errors" not in second, second
    assert [i["id"] for i in second["data"]["feed"]["items"]] == [items[2]["id"]]
    assert second["data"]["feed"]["nextCursor"] is None
    assert downstream.calls_to("content", "/api/v1/feed")[1].query == {"limit": "2", "cursor": cursor}


@pytest.mark.parametrize("first", [1000, 101, 0, -1])
async def test_feed_first_out_of_range_is_validation_failed(gql: Gql, downstream: Downstream, first: int) -> None:
    body = await gql(FEED, {"first": first})

    assert body["data"] == {"feed": None}
    (err,) = body["errors"]
    assert err["extensions"] == {
        "code": "validation_failed",
        "status": 422,
        "details": [{"loc": ["first"], "message": "must be between 1 and 100"}],
    }
    assert err["path"] == ["feed"]
    assert downstream.calls_to("content") == [], "an invalid page size must not reach the service"


async def test_my_shares_first_above_100_is_validation_failed(gql: Gql, downstream: Downstream) -> None:
    body = await gql("{ myShares(first: 1000) { items { id } } }")
    assert body["data"] == {"myShares": None}
    assert error_codes(body) == ["validation_failed"]
    assert downstream.calls_to("sharing") == []


async def test_missing_token_is_unauthenticated(gql: Gql, downstream: Downstream) -> None:
    body = await gql("{ me { subject } feed { items { id } } }", headers={})

    assert body["data"] == {"me": None, "feed": None}
    assert error_codes(body) == ["unauthenticated", "unauthenticated"]
    assert body["errors"][0]["extensions"]["status"] == 401
    assert "bearer token is required" in body["errors"][0]["message"]
    assert downstream.calls == [], "nothing reaches a service without a valid token"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_invalid_token_is_unauthenticated(gql: Gql, downstream: Downstream, authorization: str) -> None:
    body = await gql("{ feed { items { id } } }", headers={"Authorization": authorization})

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


async def test_me_answers_from_the_token(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    headers = issuer.headers(
        org=ORG, roles=["employee", "curator"], subject="sub-7", name="Ada Rossi", email="ada@acme.example"
    )
    body = await gql("{ me { subject orgId roles name email } }", headers=headers)

    assert "errors" not in body, body
    assert body["data"]["me"] == {
        "subject": "sub-7",
        "orgId": ORG,
        "roles": ["curator", "employee"],
        "name": "Ada Rossi",
        "email": "ada@acme.example",
    }
    assert downstream.calls == []


async def test_content_item_not_found_keeps_the_services_error_code(gql: Gql, downstream: Downstream) -> None:
    missing = "0b5e2f7e-93c6-4c2b-9c55-7d1f1b2d9a10"
    body = await gql("query($id: ID!) { contentItem(id: $id) { id } }", {"id": missing})

    assert body["data"] == {"contentItem": None}
    (err,) = body["errors"]
    assert err["message"] == "content item not found"
    assert err["extensions"] == {"code": "not_found", "status": 404, "details": []}
    assert [c.path for c in downstream.calls_to("content")] == [f"/api/v1/content-items/{missing}"]


async def test_malformed_id_is_refused_before_any_call(gql: Gql, downstream: Downstream) -> None:
    body = await gql('{ contentItem(id: "../feed") { id } }')

    assert body["data"] == {"contentItem": None}
    assert error_codes(body) == ["validation_failed"]
    assert downstream.calls == []


async def test_create_publish_and_publish_again_is_conflict(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    create = """mutation($input: CreateContentItemInput!) {
      createContentItem(input: $input) { id title url status suggestedCaption stats { shares } } }"""
    publish = "mutation($id: ID!) { publishContentItem(id: $id) { id status publishedAt } }"
    item_input = {"title": "Our new plant", "url": "https://acme.example/plant", "suggestedCaption": "Proud!"}

    created = await gql(create, {"input": item_input}, headers=curator_headers(issuer))
    assert "errors" not in created, created
    item = created["data"]["createContentItem"]
    assert (item["title"], item["status"], item["suggestedCaption"]) == ("Our new plant", "DRAFT", "Proud!")
    assert item["stats"] == {"shares": 0}
    assert downstream.calls_to("content", "/api/v1/content-items")[0].body == {
        "title": "Our new plant",
        "url": "https://acme.example/plant",
        "suggested_caption": "Proud!",
    }

    published = await gql(publish, {"id": item["id"]}, headers=curator_headers(issuer))
    assert "errors" not in published, published
    assert published["data"]["publishContentItem"]["status"] == "PUBLISHED"
    assert published["data"]["publishContentItem"]["publishedAt"]

    again = await gql(publish, {"id": item["id"]}, headers=curator_headers(issuer))
    assert again["data"] == {"publishContentItem": None}
    assert again["errors"][0]["extensions"] == {"code": "conflict", "status": 409, "details": []}
    assert again["errors"][0]["message"] == "the content item is already published"


async def test_service_validation_details_reach_the_client(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    body = await gql(
        'mutation { createContentItem(input: {title: " ", url: "https://acme.example"}) { id } }',
        headers=curator_headers(issuer),
    )

    assert body["data"] == {"createContentItem": None}
    assert body["errors"][0]["extensions"] == {
        "code": "validation_failed",
        "status": 422,
        "details": [{"loc": ["body", "title"], "message": "Value error, the title is blank"}],
    }


async def test_employee_cannot_create_content(gql: Gql, downstream: Downstream) -> None:
    body = await gql('mutation { createContentItem(input: {title: "x", url: "https://a.example"}) { id } }')
    assert body["data"] == {"createContentItem": None}
    assert error_codes(body) == ["forbidden"]
    assert body["errors"][0]["extensions"]["status"] == 403


async def test_check_post_asks_the_policy_service(gql: Gql, downstream: Downstream) -> None:
    query = """query($network: String!, $text: String!) {
      checkPost(network: $network, text: $text) {
        allowed outcome violations { code message } length limit } }"""

    ok = await gql(query, {"network": "x", "text": "Proud of our new plant"})
    assert "errors" not in ok, ok
    assert ok["data"]["checkPost"] == {
        "allowed": True,
        "outcome": "APPROVED",
        "violations": [],
        "length": 22,
        "limit": 280,
    }

    bad = await gql(query, {"network": "linkedin", "text": "Confidential: our Q3 numbers"})
    assert "errors" not in bad, bad
    assert bad["data"]["checkPost"]["allowed"] is False
    assert bad["data"]["checkPost"]["outcome"] == "REJECTED"
    assert bad["data"]["checkPost"]["violations"] == [
        {"code": "confidential_term", "message": "Do not share confidential information."}
    ]
    assert [c.body for c in downstream.calls_to("policy", "/api/v1/policy-checks")] == [
        {"network": "x", "text": "Proud of our new plant"},
        {"network": "linkedin", "text": "Confidential: our Q3 numbers"},
    ]


async def test_share_content_then_read_it_back(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    item = downstream.add_item()
    shared = await gql(
        """mutation($input: ShareContentInput!) { shareContent(input: $input) {
             id contentId network text status violations { code } publishMethod intentUrl intentKeepsText
             trackingUrl potentialReach createdAt } }""",
        {"input": {"contentId": item["id"], "network": "linkedin", "text": "In my words: a great day"}},
    )
    assert "errors" not in shared, shared
    share = shared["data"]["shareContent"]
    assert share["status"] == "PENDING_POLICY"
    assert (share["contentId"], share["network"], share["text"]) == (
        item["id"],
        "linkedin",
        "In my words: a great day",
    )
    assert (share["publishMethod"], share["intentUrl"], share["potentialReach"], share["violations"]) == (
        None,
        None,
        None,
        [],
    )
    assert share["intentKeepsText"] is False
    assert downstream.calls_to("sharing", "/api/v1/shares")[0].body == {
        "content_id": item["id"],
        "network": "linkedin",
        "text": "In my words: a great day",
    }

    again = await gql("query($id: ID!) { share(id: $id) { id status } }", {"id": share["id"]})
    assert again["data"]["share"] == {"id": share["id"], "status": "PENDING_POLICY"}

    mine = await gql("{ myShares(first: 5) { items { id } nextCursor } }")
    assert mine["data"]["myShares"] == {"items": [{"id": share["id"]}], "nextCursor": None}
    assert downstream.calls_to("sharing", "/api/v1/shares")[-1].query == {"limit": "5"}

    other_item = downstream.add_item()
    of_item = await gql("query($c: ID) { myShares(contentId: $c) { items { id } } }", {"c": other_item["id"]})
    assert of_item["data"]["myShares"] == {"items": []}
    assert downstream.calls_to("sharing", "/api/v1/shares")[-1].query == {"limit": "20", "content_id": other_item["id"]}

    others = await gql("{ myShares { items { id } } }", headers=employee_headers(issuer, "someone-else"))
    assert others["data"]["myShares"] == {"items": []}


async def test_service_down_is_service_unavailable(issuer: Issuer, downstream: Downstream, gql: Gql) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = gateway_settings(issuer, downstream, POLICY_SERVICE_URL=dead, METRICS_SERVICE_URL=dead)
    downstream.add_item()
    async with running(build_app(settings)) as client:
        check = await gql('{ checkPost(network: "x", text: "hi") { allowed } }', client=client)
        feed = await gql("{ feed { items { id stats { shares } } } }", client=client)
        me = await gql("{ me { subject } }", client=client)

    assert check["data"] == {"checkPost": None}
    assert check["errors"][0]["extensions"] == {"code": "service_unavailable", "status": 503, "details": []}
    assert "policy service" in check["errors"][0]["message"]
    # A metrics outage nulls only the stats (one error per item): the feed itself still arrives.
    assert feed["data"]["feed"]["items"][0]["stats"] is None
    assert feed["data"]["feed"]["items"][0]["id"]
    assert set(error_codes(feed)) == {"service_unavailable"}
    assert feed["errors"][0]["path"] == ["feed", "items", 0, "stats"]
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

    body = await gql("{ feed { items { id } } }")

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

    body = await gql("{ feed { items { id } } me { subject } }")

    assert body["data"] == {"feed": None, "me": {"subject": "employee-1"}}
    (err,) = body["errors"]
    assert err["extensions"] == {"code": "internal", "status": 500, "details": []}
    assert err["message"] == "an unexpected error occurred; it has been logged"
    assert "hunter2" not in str(body)


async def test_invalid_documents_have_graphql_codes(gql: Gql, downstream: Downstream) -> None:
    syntax = await gql("{ feed { items { id }")
    unknown = await gql("{ feed { items { secretField } } }")

    assert error_codes(syntax) == ["GRAPHQL_PARSE_FAILED"]
    assert error_codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    assert unknown["errors"][0]["extensions"]["status"] == 400
    assert downstream.calls == []

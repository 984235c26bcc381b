"""The walking skeleton, end to end through the five real processes on PostgreSQL and the Tansu broker:
a curator publishes (content REST), an employee sees it in the GraphQL feed and shares it to X in
their own words, policy decides, sharing hands back an X intent link around a tracking link, a click
on it redirects with UTM parameters, and metrics counts the share and the click."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import RunningSystem, eventually
from gateway.relay import from_global_id, to_global_id

BROWSER = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
}
ARTICLE = "https://acme.example/news/solar-plant?lang=en"


def graphql(system: RunningSystem, query: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{system.urls['gateway']}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=15
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


SHARE = """mutation($input: ShareContentInput!) {
  shareContent(input: $input) { share { id status } errors { __typename message
    ... on PolicyRejectedError { violations { code message } } } } }"""
SHARE_STATE = """query($id: ID!) {
  share(id: $id) { id status intentUrl trackingUrl violations { code message } } }"""
STATS = """query($id: ID!) { contentItem(id: $id) { id title stats { shares clicks uniqueClicks } } }"""


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()


def publish_article(system: RunningSystem, org: uuid.UUID) -> str:
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-slice")
    created = httpx.post(
        f"{system.urls['content']}/api/v1/content-items",
        json={"title": "Our first solar plant", "url": ARTICLE, "suggested_caption": "We did it!"},
        headers=curator,
    )
    assert created.status_code == 201, created.text
    item_id = str(created.json()["id"])
    published = httpx.post(f"{system.urls['content']}/api/v1/content-items/{item_id}/publish", headers=curator)
    assert published.status_code == 200, published.text
    return item_id


def submit(system: RunningSystem, headers: dict[str, str], item_id: str, text: str) -> dict[str, Any]:
    """shareContent's payload once sharing knows the item (it learns of a new item from ContentPublished,
    a moment after it is published, and answers NotFoundError until then)."""
    content_id = to_global_id("ContentItem", item_id)

    def submitted() -> dict[str, Any] | None:
        body = graphql(system, SHARE, headers, input={"contentId": content_id, "network": "X", "text": text})
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["shareContent"]
        return None if [e for e in payload["errors"] if e["__typename"] == "NotFoundError"] else payload

    result: dict[str, Any] = eventually(submitted)
    return result


def share(system: RunningSystem, headers: dict[str, str], item_id: str, text: str) -> dict[str, Any]:
    payload = submit(system, headers, item_id, text)
    assert payload["errors"] == [], payload
    created: dict[str, Any] = payload["share"]
    assert created["status"] == "PENDING_POLICY"
    return created


def raw_id(global_id: str) -> str:
    decoded = from_global_id(global_id)
    assert decoded is not None, global_id
    return str(decoded[1])


def settled(system: RunningSystem, headers: dict[str, str], share_id: str) -> dict[str, Any]:
    def decided() -> dict[str, Any] | None:
        state = graphql(system, SHARE_STATE, headers, id=share_id)["data"]["share"]
        return None if state["status"] == "PENDING_POLICY" else dict(state)

    result: dict[str, Any] = eventually(decided)
    return result


def test_a_share_flows_from_feed_to_counted_click(system: RunningSystem, org: uuid.UUID) -> None:
    item_id = publish_article(system, org)
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-slice")

    feed = graphql(system, "{ feed(first: 5) { edges { node { id title url } } } }", employee)
    assert feed["data"]["feed"]["edges"] == [
        {"node": {"id": to_global_id("ContentItem", item_id), "title": "Our first solar plant", "url": ARTICLE}}
    ]

    text = "Proud of the team that built this: our first plant running on sunlight."
    created = share(system, employee, item_id, text)
    state = settled(system, employee, created["id"])
    assert state["status"] == "PUBLISHED", state
    tracking_url = state["trackingUrl"]
    assert tracking_url.startswith(f"{system.urls['sharing']}/r/")

    intent = urlsplit(state["intentUrl"])
    assert (intent.scheme, intent.netloc, intent.path) == ("https", "x.com", "/intent/tweet")
    assert parse_qs(intent.query) == {"text": [text], "url": [tracking_url]}

    click = httpx.get(tracking_url, headers=BROWSER, follow_redirects=False)
    assert click.status_code == 302
    target = urlsplit(click.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://acme.example/news/solar-plant"
    assert parse_qs(target.query) == {
        "lang": ["en"],
        "utm_source": ["x"],
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": ["condividi"],
        "utm_content": [raw_id(created["id"])],
    }

    def counted() -> dict[str, Any] | None:
        item = graphql(system, STATS, employee, id=to_global_id("ContentItem", item_id))["data"]["contentItem"]
        return item if item["stats"]["shares"] == 1 and item["stats"]["clicks"] == 1 else None

    item = eventually(counted)
    assert item["stats"] == {"shares": 1, "clicks": 1, "uniqueClicks": 1}


def test_a_post_over_the_x_limit_is_rejected_with_a_reason(system: RunningSystem, org: uuid.UUID) -> None:
    item_id = publish_article(system, org)
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-long")
    # 257 characters + a space + the link counted as 23 = 281, one over X's 280. Through the gateway the
    # live check refuses it at once and nothing is recorded...
    refused = submit(system, employee, item_id, "a" * 257)
    assert refused["share"] is None
    [error] = refused["errors"]
    assert error["__typename"] == "PolicyRejectedError"
    assert [v["code"] for v in error["violations"]] == ["too_long"]
    assert "281" in error["violations"][0]["message"]
    mine = graphql(system, "{ myShares { edges { cursor } } }", employee)
    assert mine == {"data": {"myShares": {"edges": []}}}
    # ...and a share submitted past the gateway (REST) gets the same verdict from policy, with the reason.
    direct = httpx.post(
        f"{system.urls['sharing']}/api/v1/shares",
        json={"content_id": item_id, "network": "x", "text": "a" * 257},
        headers=employee,
    )
    assert direct.status_code == 202, direct.text
    state = settled(system, employee, to_global_id("Share", direct.json()["id"]))
    assert state["status"] == "REJECTED"
    assert state["intentUrl"] is None
    [violation] = state["violations"]
    assert violation["code"] == "too_long"
    assert "281" in violation["message"] and "280" in violation["message"]
    assert state["trackingUrl"] is None, "a rejected share has no link to hand out"

    # A rejected share does not count as a duplicate: the fixed post goes through.
    exactly = settled(system, employee, share(system, employee, item_id, "a" * 256)["id"])
    assert exactly["status"] == "PUBLISHED", "280 counted characters fit"


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    assert error["request_id"] == response.headers["x-request-id"]


def test_bad_input_to_every_endpoint_of_the_slice_answers_4xx_in_one_shape(
    system: RunningSystem, org: uuid.UUID
) -> None:
    urls = system.urls
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-bad")
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-bad")
    cases = [
        (
            "POST",
            f"{urls['content']}/api/v1/content-items",
            curator,
            {"title": "", "url": "ftp://x"},
            422,
            "validation_failed",
        ),
        (
            "POST",
            f"{urls['content']}/api/v1/content-items",
            employee,
            {"title": "t", "url": "https://a.example"},
            403,
            "forbidden",
        ),
        ("POST", f"{urls['content']}/api/v1/content-items/not-a-uuid/publish", curator, None, 422, "validation_failed"),
        ("POST", f"{urls['content']}/api/v1/content-items/{uuid.uuid4()}/publish", curator, None, 404, "not_found"),
        ("GET", f"{urls['content']}/api/v1/feed?limit=0", employee, None, 422, "validation_failed"),
        ("GET", f"{urls['content']}/api/v1/feed?cursor=%%%", employee, None, 400, "invalid_cursor"),
        ("GET", f"{urls['content']}/api/v1/feed", {}, None, 401, "unauthenticated"),
        (
            "POST",
            f"{urls['sharing']}/api/v1/shares",
            employee,
            {"content_id": str(uuid.uuid4()), "network": "orkut"},
            422,
            "validation_failed",
        ),
        (
            "POST",
            f"{urls['sharing']}/api/v1/shares",
            employee,
            {"content_id": str(uuid.uuid4()), "network": "x", "text": "  "},
            422,
            "validation_failed",
        ),
        (
            "POST",
            f"{urls['sharing']}/api/v1/shares",
            employee,
            {"content_id": str(uuid.uuid4()), "network": "x", "text": "Unknown item"},
            404,
            "not_found",
        ),
        ("GET", f"{urls['sharing']}/api/v1/shares/{uuid.uuid4()}", employee, None, 404, "not_found"),
        ("GET", f"{urls['sharing']}/r/doesnotexist", {}, None, 404, "not_found"),
        ("POST", f"{urls['policy']}/api/v1/policy-checks", employee, {"network": "x"}, 422, "validation_failed"),
        ("GET", f"{urls['metrics']}/api/v1/content-stats/not-a-uuid", employee, None, 422, "validation_failed"),
        ("GET", f"{urls['metrics']}/api/v1/content-stats/{uuid.uuid4()}", employee, None, 404, "not_found"),
        ("GET", f"{urls['metrics']}/api/v1/nowhere", employee, None, 404, "not_found"),
    ]
    for method, url, headers, body, status, code in cases:
        if body is None:
            response = httpx.request(method, url, headers=headers)
        else:
            response = httpx.request(method, url, headers=headers, json=body)
        assert_error_shape(response, status, code)
    raw = httpx.post(
        f"{urls['sharing']}/api/v1/shares",
        headers={**employee, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert_error_shape(raw, 422, "validation_failed")

    bad_graphql = graphql(system, "{ feed(first: 1000) { edges { cursor } } }", employee)
    assert bad_graphql["errors"][0]["extensions"]["code"] == "validation_failed"
    unknown = graphql(system, SHARE_STATE, employee, id=to_global_id("Share", uuid.uuid4()))
    assert unknown == {"data": {"share": None}}


def test_an_id_from_another_org_answers_not_found_everywhere(system: RunningSystem, org: uuid.UUID) -> None:
    item_id = publish_article(system, org)
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-owner")
    share_id = raw_id(share(system, employee, item_id, "Mine")["id"])
    stranger = system.issuer.headers(org=uuid.uuid4(), roles=[Role.ADMIN, Role.CURATOR, Role.REVIEWER])
    for url in (
        f"{system.urls['content']}/api/v1/content-items/{item_id}",
        f"{system.urls['sharing']}/api/v1/shares/{share_id}",
        f"{system.urls['metrics']}/api/v1/content-stats/{item_id}",
    ):
        assert_error_shape(httpx.get(url, headers=stranger), 404, "not_found")
    takeover = httpx.post(
        f"{system.urls['sharing']}/api/v1/shares",
        json={"content_id": item_id, "network": "x", "text": "not mine"},
        headers=stranger,
    )
    assert_error_shape(takeover, 404, "not_found")


async def test_the_client_hears_the_decision_over_a_subscription(system: RunningSystem, org: uuid.UUID) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    item_id = publish_article(system, org)
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-subscriber")
    created = await asyncio.to_thread(share, system, employee, item_id, "Heard it live.")
    url = system.urls["gateway"].replace("http://", "ws://") + "/graphql"
    query = "subscription($id: ID!) { shareUpdated(id: $id) { status intentUrl } }"
    statuses = []
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": employee}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": created["id"]}}}
            )
        )
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            statuses.append(message["payload"]["data"]["shareUpdated"])
    assert statuses[-1]["status"] == "PUBLISHED"
    assert statuses[-1]["intentUrl"].startswith("https://x.com/intent/tweet?")

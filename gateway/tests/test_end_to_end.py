"""The gateway in front of the real services (five processes on PostgreSQL and the Kafka-protocol
broker, as ``make run`` wires them): a curator publishes, an employee checks and shares a post in their
own words, the policy decides it, and the feed's stats count the share."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from condividi.identity import Role
from condividi.testing import RunningSystem, eventually


def _graphql(
    system: RunningSystem, query: str, variables: dict[str, Any] | None, headers: dict[str, str]
) -> dict[str, Any]:
    response = httpx.post(
        f"{system.urls['gateway']}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=15.0,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_publish_check_share_and_count_through_the_gateway(system: RunningSystem) -> None:
    org = uuid.uuid4()
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-e2e")
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=f"employee-{uuid.uuid4().hex[:6]}")

    created = _graphql(
        system,
        "mutation($i: CreateContentItemInput!) { createContentItem(input: $i) { id status } }",
        {"i": {"title": "Our new plant", "url": "https://acme.example/plant", "suggestedCaption": "Proud!"}},
        curator,
    )
    assert "errors" not in created, created
    item_id = created["data"]["createContentItem"]["id"]
    published = _graphql(
        system, "mutation($id: ID!) { publishContentItem(id: $id) { status } }", {"id": item_id}, curator
    )
    assert published == {"data": {"publishContentItem": {"status": "PUBLISHED"}}}

    feed_query = "{ feed(first: 10) { items { id stats { shares potentialReach reachNote } } nextCursor } }"
    feed = _graphql(system, feed_query, None, employee)
    assert "errors" not in feed, feed
    assert [i["id"] for i in feed["data"]["feed"]["items"]] == [item_id]
    assert feed["data"]["feed"]["items"][0]["stats"]["shares"] == 0

    check = _graphql(
        system,
        'query { checkPost(network: "linkedin", text: "We opened a plant and I am proud of the team") '
        "{ allowed outcome violations { code } limit } }",
        None,
        employee,
    )
    assert "errors" not in check, check
    assert check["data"]["checkPost"]["allowed"] is True
    assert check["data"]["checkPost"]["outcome"] == "APPROVED"

    share_mutation = """mutation($i: ShareContentInput!) {
      shareContent(input: $i) { id status contentId network trackingUrl } }"""
    share_input = {"contentId": item_id, "network": "linkedin", "text": "We opened a plant and I am proud of the team"}

    def submitted() -> dict[str, Any] | None:
        # The sharing service learns of the item from ContentPublished, asynchronously.
        body = _graphql(system, share_mutation, {"i": share_input}, employee)
        return None if body.get("errors") else body

    shared = eventually(submitted)["data"]["shareContent"]
    assert shared["status"] == "PENDING_POLICY"
    assert (shared["contentId"], shared["network"]) == (item_id, "linkedin")
    assert shared["trackingUrl"] is None  # a link exists once the share is published

    def decided() -> dict[str, Any] | None:
        body = _graphql(
            system, "query($id: ID!) { share(id: $id) { status publishMethod } }", {"id": shared["id"]}, employee
        )
        share: dict[str, Any] | None = body["data"]["share"]
        return share if share and share["status"] != "PENDING_POLICY" else None

    assert eventually(decided) == {"status": "PUBLISHED", "publishMethod": "INTENT"}

    def counted() -> dict[str, Any] | None:
        body = _graphql(system, feed_query, None, employee)
        stats: dict[str, Any] = body["data"]["feed"]["items"][0]["stats"]
        return stats if stats["shares"] == 1 else None

    stats = eventually(counted)
    assert stats["reachNote"]

    mine = _graphql(system, "{ myShares { items { id status } } }", None, employee)
    assert mine == {"data": {"myShares": {"items": [{"id": shared["id"], "status": "PUBLISHED"}]}}}

    # Another org sees none of it, and an unknown id answers not_found like the services do.
    stranger = system.issuer.headers(org=uuid.uuid4(), roles=[Role.EMPLOYEE])
    foreign = _graphql(system, "query($id: ID!) { contentItem(id: $id) { id } }", {"id": item_id}, stranger)
    assert foreign["data"] == {"contentItem": None}
    assert foreign["errors"][0]["extensions"]["code"] == "not_found"

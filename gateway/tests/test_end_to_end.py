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
        """mutation($i: CreateContentItemInput!) {
          createContentItem(input: $i) { contentItem { id status } errors { message } } }""",
        {"i": {"title": "Our new plant", "url": "https://acme.example/plant", "suggestedCaption": "Proud!"}},
        curator,
    )
    assert "errors" not in created, created
    assert created["data"]["createContentItem"]["errors"] == []
    item_id = created["data"]["createContentItem"]["contentItem"]["id"]
    published = _graphql(
        system,
        "mutation($id: ID!) { publishContentItem(input: {id: $id}) { contentItem { status } errors { message } } }",
        {"id": item_id},
        curator,
    )
    assert published == {"data": {"publishContentItem": {"contentItem": {"status": "PUBLISHED"}, "errors": []}}}

    feed_query = """{ feed(first: 10) { edges { node { id stats { shares potentialReach reachNote } } }
                     pageInfo { hasNextPage } } }"""
    feed = _graphql(system, feed_query, None, employee)
    assert "errors" not in feed, feed
    assert [e["node"]["id"] for e in feed["data"]["feed"]["edges"]] == [item_id]
    assert feed["data"]["feed"]["pageInfo"] == {"hasNextPage": False}
    assert feed["data"]["feed"]["edges"][0]["node"]["stats"]["shares"] == 0

    check = _graphql(
        system,
        'query { checkPost(network: LINKEDIN, text: "We opened a plant and I am proud of the team") '
        "{ allowed outcome violations { code } limit } }",
        None,
        employee,
    )
    assert "errors" not in check, check
    assert check["data"]["checkPost"]["allowed"] is True
    assert check["data"]["checkPost"]["outcome"] == "APPROVED"

    share_mutation = """mutation($i: ShareContentInput!) {
      shareContent(input: $i) { share { id status contentId network } errors { __typename message path } } }"""
    share_input = {"contentId": item_id, "network": "LINKEDIN", "text": "We opened a plant and I am proud of the team"}

    def submitted() -> dict[str, Any] | None:
        # The sharing service learns of the item from ContentPublished, asynchronously: until then it
        # answers NotFoundError.
        body = _graphql(system, share_mutation, {"i": share_input}, employee)
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["shareContent"]
        return None if payload["errors"] else payload["share"]

    shared = eventually(submitted)
    assert shared["status"] == "PENDING_POLICY"
    assert (shared["contentId"], shared["network"]) == (item_id, "LINKEDIN")

    def decided() -> dict[str, Any] | None:
        body = _graphql(
            system,
            "query($id: ID!) { share(id: $id) { status publishMethod trackingUrl decision { outcome } } }",
            {"id": shared["id"]},
            employee,
        )
        share: dict[str, Any] | None = body["data"]["share"]
        return share if share and share["status"] != "PENDING_POLICY" and share["decision"] else None

    settled = eventually(decided)
    assert (settled["status"], settled["publishMethod"]) == ("PUBLISHED", "INTENT")
    assert settled["decision"] == {"outcome": "APPROVED"}
    assert settled["trackingUrl"]

    def counted() -> dict[str, Any] | None:
        body = _graphql(system, feed_query, None, employee)
        stats: dict[str, Any] = body["data"]["feed"]["edges"][0]["node"]["stats"]
        return stats if stats["shares"] == 1 else None

    stats = eventually(counted)
    assert stats["reachNote"]

    mine = _graphql(system, "{ myShares { edges { node { id status } } } }", None, employee)
    assert mine == {"data": {"myShares": {"edges": [{"node": {"id": shared["id"], "status": "PUBLISHED"}}]}}}
    node = _graphql(
        system, "query($id: ID!) { node(id: $id) { id ... on Share { status } } }", {"id": shared["id"]}, employee
    )
    assert node == {"data": {"node": {"id": shared["id"], "status": "PUBLISHED"}}}

    # Another org sees none of it: its ids answer null, exactly like unknown ones.
    stranger = system.issuer.headers(org=uuid.uuid4(), roles=[Role.EMPLOYEE, Role.REVIEWER])
    for field in ("contentItem", "share", "node"):
        for global_id in (item_id, shared["id"]):
            foreign = _graphql(system, f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": global_id}, stranger)
            assert foreign == {"data": {field: None}}, (field, foreign)


def test_cursors_built_by_the_gateway_page_the_real_services_both_ways(system: RunningSystem) -> None:
    """The gateway makes a cursor for every edge from the item's sort time and id; the real services'
    keyset queries must take them, forward and backward."""
    org = uuid.uuid4()
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN, Role.CURATOR], subject="admin-e2e")
    created = []
    for n in range(4):
        body = _graphql(
            system,
            "mutation($i: CreateTeamInput!) { createTeam(input: $i) { team { id } errors { message } } }",
            {"i": {"name": f"Team {n}"}},
            admin,
        )
        assert body["data"]["createTeam"]["errors"] == [], body
        created.append(body["data"]["createTeam"]["team"]["id"])
    items = []
    for n in range(3):
        body = _graphql(
            system,
            "mutation($i: CreateContentItemInput!) { createContentItem(input: $i) { contentItem { id } } }",
            {"i": {"title": f"Item {n}", "url": f"https://acme.example/{n}"}},
            admin,
        )
        item_id = body["data"]["createContentItem"]["contentItem"]["id"]
        _graphql(system, "mutation($id: ID!) { publishContentItem(input: {id: $id}) { errors { message } } }",
                 {"id": item_id}, admin)  # fmt: skip
        items.append(item_id)
    items.reverse()  # the feed is newest first

    def page(field: str, args: str, variables: dict[str, Any]) -> dict[str, Any]:
        query = f"""query($first: Int, $after: String, $last: Int, $before: String) {{
          {field}({args}) {{ edges {{ cursor node {{ id }} }}
                          pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"""
        body = _graphql(system, query, variables, admin)
        assert "errors" not in body, body
        connection: dict[str, Any] = body["data"][field]
        return connection

    for field, expected in (("teams", created), ("feed", items)):
        args = "first: $first, after: $after, last: $last, before: $before"
        first = page(field, args, {"first": 2})
        assert [e["node"]["id"] for e in first["edges"]] == expected[:2], field
        assert first["pageInfo"]["hasNextPage"] is True
        # Resume after the first edge (not the page's last): every edge's cursor is a position.
        resumed = page(field, args, {"first": 5, "after": first["edges"][0]["cursor"]})
        assert [e["node"]["id"] for e in resumed["edges"]] == expected[1:], field
        assert resumed["pageInfo"]["hasNextPage"] is False
        back = page(field, args, {"last": 1, "before": resumed["pageInfo"]["endCursor"]})
        assert [e["node"]["id"] for e in back["edges"]] == expected[-2:-1], field
        assert back["pageInfo"]["hasPreviousPage"] is True
        tail = page(field, args, {"last": 2})
        assert [e["node"]["id"] for e in tail["edges"]] == expected[-2:], field

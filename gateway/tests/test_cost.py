"""Query cost: nested lists multiply, fragments are costed once, and the gateway refuses a query above
its budget with the cost and the budget in the error. The unit tests use a small schema of their own
(connections like Relay's), so that they do not depend on the gateway's type shapes."""

from __future__ import annotations

import time
from typing import Any

from graphql import OperationDefinitionNode, build_schema, parse

from condividi.testing import Issuer, running
from gateway.cost import operation_cost
from gateway.main import build_app
from gateway.tests.conftest import employee_headers, gateway_settings
from gateway.tests.fakes import Downstream

SCHEMA = build_schema(
    """
    type Query { feed(first: Int, last: Int): ItemConnection!  me: User!  node(id: ID!): Node  pinned: [Item!]! }
    interface Node { id: ID! }
    type User implements Node { id: ID! name: String! }
    type ItemConnection { edges: [ItemEdge!]!  pageInfo: PageInfo! }
    type ItemEdge { cursor: String!  node: Item! }
    type PageInfo { hasNextPage: Boolean! }
    type Item implements Node {
      id: ID!  title: String!  stats: Stats
      shares(first: Int = 10): ShareConnection!
      tree: Tree!
    }
    type Stats { clicks: Int! }
    type ShareConnection { edges: [ShareEdge!]! }
    type ShareEdge { node: Share! }
    type Share { id: ID! }
    type Tree { a: Tree!  b: Tree!  leaf: Int! }
    """
)


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return operation_cost(SCHEMA, document, operation, variables or {}, max_list_size=100, default_list_size=20)


def test_scalars_and_introspection_are_free() -> None:
    assert cost("{ me { id name } }") == 1
    assert cost("{ __schema { types { name fields { name } } } __typename }") == 0


def test_a_list_multiplies_its_selection() -> None:
    # feed 1 + 20 * (edges 1 + node 1 + stats 1); pageInfo once.
    assert (
        cost("{ feed(first: 20) { pageInfo { hasNextPage } edges { node { title stats { clicks } } } } }")
        == 1 + 1 + 20 * 3
    )


def test_nested_lists_multiply_each_other() -> None:
    query = "{ feed(first: 100) { edges { node { shares(first: 100) { edges { node { id } } } } } } }"
    # feed 1 + 100 * (edges 1 + node 1 + shares 1 + 100 * (edges 1 + node 1))
    assert cost(query) == 1 + 100 * (3 + 100 * 2)


def test_sizes_come_from_variables_defaults_and_the_largest_page() -> None:
    query = "query($n: Int) { feed(first: $n) { edges { node { shares { edges { node { id } } } } } } }"
    # shares defaults to first: 10 in the schema.
    assert cost(query, {"n": 5}) == 1 + 5 * (3 + 10 * 2)
    # Not given, no default declared: the default page size (20); above the largest page (100): counted
    # as the largest page (the resolver refuses more).
    assert cost(query, {}) == 1 + 20 * (3 + 10 * 2)
    assert cost(query, {"n": 10_000}) == cost(query, {"n": 100}) == 1 + 100 * (3 + 10 * 2)
    assert cost("{ feed(last: 7) { edges { node { id } } } }") == 1 + 7 * 2
    assert cost("{ feed(first: 2, last: 7) { edges { node { id } } } }") == 1 + 7 * 2


def test_fragments_and_inline_fragments_count_where_they_are_spread() -> None:
    query = """
      query { feed(first: 10) { edges { ...Edge } } node(id: "1") { ... on Item { stats { clicks } } } }
      fragment Edge on ItemEdge { node { ...Stats } }
      fragment Stats on Item { stats { clicks } shares(first: 2) { edges { node { id } } } }
    """
    # feed 1 + 10 * (edges 1 + node 1 + stats 1 + shares 1 + 2 * 2); node 1 + stats 1.
    assert cost(query) == 1 + 10 * (4 + 2 * 2) + 2


def test_cost_is_linear_in_the_document_even_when_fragments_fan_out() -> None:
    """Each fragment spreads the next twice: walking spreads naively would take 2**40 steps."""
    depth = 40
    fragments = [f"fragment F{i} on Tree {{ a {{ ...F{i + 1} }} b {{ ...F{i + 1} }} }}" for i in range(depth)]
    query = "\n".join(
        [
            "{ feed(first: 1) { edges { node { tree { ...F0 } } } } }",
            *fragments,
            f"fragment F{depth} on Tree {{ leaf }}",
        ]
    )
    started = time.perf_counter()

    total = cost(query)

    assert time.perf_counter() - started < 1.0
    # Tree levels: 2 + 4 + ... + 2**depth objects below the root tree.
    assert total == 1 + (1 + 1 + 1 + (2 ** (depth + 1) - 2))


# --- in the gateway -----------------------------------------------------------------------------


async def test_a_query_above_the_budget_is_refused_with_its_cost(issuer: Issuer, downstream: Downstream) -> None:
    settings = gateway_settings(issuer, downstream, GRAPHQL_MAX_COST=2)
    within = "{ a: me { subject } b: me { subject } }"
    above = "{ a: me { subject } b: me { subject } c: me { subject } }"
    async with running(build_app(settings)) as client:
        allowed = await client.post("/graphql", json={"query": within}, headers=employee_headers(issuer))
        refused = await client.post(
            "/graphql",
            json={"query": above},
            headers={**employee_headers(issuer), "Accept": "application/graphql-response+json"},
        )

    assert "errors" not in allowed.json(), allowed.text
    assert refused.status_code == 422
    body = refused.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert (error["extensions"]["cost"], error["extensions"]["budget"]) == (3, 2)
    assert "3" in error["message"] and "2" in error["message"]
    assert downstream.calls == []

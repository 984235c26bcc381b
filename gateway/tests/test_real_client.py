"""The gateway through a real GraphQL client (``gql``) against a real server (uvicorn): a query and a
client mistake over its HTTPX transport, a persisted query over GET, and a subscription over its
websockets transport speaking graphql-transport-ws."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from graphql import ExecutionResult

from condividi.testing import Issuer
from gateway.main import build_app
from gateway.relay import to_global_id
from gateway.tests.conftest import ORG, employee_headers, gateway_settings
from gateway.tests.fakes import Downstream, ServerThread


@pytest.fixture
def server(issuer: Issuer, downstream: Downstream) -> Iterator[ServerThread]:
    # No broker in these tests: the subscription's re-read (made fast) brings the change instead.
    settings = gateway_settings(issuer, downstream, GRAPHQL_LIVE_EVENTS=False, GRAPHQL_SUBSCRIPTION_REREAD_SECONDS=0.05)
    running = ServerThread(build_app(settings), lifespan="on").start()
    try:
        yield running
    finally:
        running.stop()


def http_client(
    server: ServerThread, issuer: Issuer, transport: type[HTTPXAsyncTransport] = HTTPXAsyncTransport
) -> Client:
    return Client(transport=transport(url=f"{server.url}/graphql", headers=employee_headers(issuer)))


async def test_a_query(server: ServerThread, issuer: Issuer) -> None:
    async with http_client(server, issuer) as session:
        result = await session.execute(gql("{ me { subject orgId roles } }"))

    assert result == {"me": {"subject": "employee-1", "orgId": ORG, "roles": ["EMPLOYEE"]}}


async def test_a_client_mistake_is_a_query_error_not_a_server_error(server: ServerThread, issuer: Issuer) -> None:
    request = GraphQLRequest("query($n: Int!) { feed(first: $n) { __typename } }", variable_values={"n": "ten"})
    async with http_client(server, issuer) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(request)

    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


class PersistedQueryTransport(HTTPXAsyncTransport):
    """gql's HTTPX transport speaking Apollo's persisted-query protocol the way Apollo Client's link
    does with ``useGETForHashedQueries``: the hash alone over GET, and on a miss the text by POST."""

    sent: list[tuple[str, int]]

    async def execute(self, request: GraphQLRequest, **_: Any) -> ExecutionResult:
        assert self.client is not None
        self.sent = getattr(self, "sent", [])
        payload = request.payload
        query = payload.pop("query")
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
        params = {"extensions": json.dumps(extensions)}
        if "variables" in payload:
            params["variables"] = json.dumps(payload["variables"])
        response = await self.client.get(str(self.url), params=params)
        self.sent.append(("GET", response.status_code))
        result = self._prepare_result(response)
        codes = [e.get("extensions", {}).get("code") for e in result.errors or []]
        if codes == ["PERSISTED_QUERY_NOT_FOUND"]:
            response = await self.client.post(str(self.url), json={**payload, "query": query, "extensions": extensions})
            self.sent.append(("POST", response.status_code))
            result = self._prepare_result(response)
        return result


async def test_a_persisted_query_over_get(server: ServerThread, issuer: Issuer) -> None:
    transport = PersistedQueryTransport(url=f"{server.url}/graphql", headers=employee_headers(issuer))
    query = gql("query Me { me { subject } }")
    async with Client(transport=transport) as session:
        first = await session.execute(query)
        second = await session.execute(query)

    assert first == second == {"me": {"subject": "employee-1"}}
    # A miss, the text once by POST, then the hash alone by GET.
    assert transport.sent == [("GET", 200), ("POST", 200), ("GET", 200)]


async def test_a_subscription(server: ServerThread, issuer: Issuer, downstream: Downstream) -> None:
    share = downstream.add_share(member="employee-1")
    share_id = str(share.id)
    transport = WebsocketsTransport(
        url=server.url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": employee_headers(issuer)["Authorization"]},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    request = GraphQLRequest(
        "subscription($id: ID!) { shareUpdated(id: $id) { status } }",
        variable_values={"id": to_global_id("Share", share_id)},
    )
    statuses: list[str] = []

    async def watch() -> None:
        async with Client(transport=transport) as session:
            async for result in session.subscribe(request):
                statuses.append(result["shareUpdated"]["status"])
                if len(statuses) == 1:
                    downstream.update_share(share.id, status="published")

    await asyncio.wait_for(watch(), 10)

    assert transport.subprotocol == "graphql-transport-ws"
    assert statuses == ["PENDING_POLICY", "PUBLISHED"]  # and the server completed the subscription

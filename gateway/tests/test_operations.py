"""The gateway's guards and operational surface: depth limits and caches, websockets, health, and the
development issuer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from condividi.devstack.infra import free_port
from condividi.errors import ApiError
from condividi.identity import TokenVerifier
from condividi.testing import AUDIENCE, Issuer, running
from gateway.main import build_app
from gateway.protocol import validate_cached
from gateway.relay import to_global_id
from gateway.tests.conftest import ORG, Gql, employee_headers, error_codes, gateway_settings
from gateway.tests.fakes import Downstream, ServerThread

# --- query guards -------------------------------------------------------------------------------


async def test_depth_limit_rejects_deeper_queries(issuer: Issuer, downstream: Downstream, gql: Gql) -> None:
    downstream.add_item()
    settings = gateway_settings(issuer, downstream, GRAPHQL_MAX_DEPTH=3)
    async with running(build_app(settings)) as client:
        shallow = await gql("{ feed { edges { node { id } } } }", client=client)
        deep = await gql("{ feed { edges { node { id stats { shares } } } } }", client=client)

    assert "errors" not in shallow, shallow
    assert len(shallow["data"]["feed"]["edges"]) == 1
    assert deep.get("data") is None
    (err,) = deep["errors"]
    assert "exceeds maximum operation depth of 3" in err["message"]
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Refused before execution: the deep query reached no service.
    assert len(downstream.calls_to("content")) == 1
    assert downstream.calls_to("metrics") == []


async def test_introspection_passes_the_depth_limit(gql: Gql) -> None:
    """GraphiQL's introspection query is far deeper than 10; introspection fields are not counted."""
    body = await gql(get_introspection_query(descriptions=True), headers={})

    assert "errors" not in body, body["errors"]
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Query", "Mutation", "ContentItem", "ContentStats", "Share", "PolicyCheck"} <= names


async def test_too_many_aliases_are_refused(gql: Gql, downstream: Downstream) -> None:
    query = "{ " + " ".join(f"a{i}: feed {{ edges {{ cursor }} }}" for i in range(31)) + " }"
    body = await gql(query)

    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert downstream.calls == []


async def test_repeated_query_hits_the_validation_cache(gql: Gql, downstream: Downstream) -> None:
    """The limits' rule is built once; a rule class per request would make every lookup a miss."""
    query = "query CacheProbe { me { subject roles } }"
    cache = validate_cached
    assert "errors" not in await gql(query)
    hits = cache.cache_info().hits

    for _ in range(3):
        assert "errors" not in await gql(query)

    assert cache.cache_info().hits == hits + 3


async def test_graphiql_is_served_to_a_browser_and_queries_run_over_get(
    gateway: httpx.AsyncClient, issuer: Issuer
) -> None:
    """Queries over GET are allowed since persisted queries (tests in test_http_protocol.py); a
    browser's GET without a document still gets GraphiQL."""
    ide = await gateway.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    assert "graphiql" in ide.text.lower()

    via_get = await gateway.get("/graphql", params={"query": "{ me { subject } }"}, headers=employee_headers(issuer))
    assert via_get.status_code == 200
    assert via_get.json() == {"data": {"me": {"subject": "employee-1"}}}


# --- websockets ---------------------------------------------------------------------------------

STATS_QUERY = "{ feed { edges { node { id stats { clicks } } } } }"


@pytest.fixture
def gateway_server(issuer: Issuer, downstream: Downstream) -> Iterator[ServerThread]:
    """The gateway as a real server (uvicorn, lifespan on), for websocket clients."""
    server = ServerThread(build_app(gateway_settings(issuer, downstream)), lifespan="on").start()
    try:
        yield server
    finally:
        server.stop()


def ws_url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def _ws_operation(ws: ClientConnection, op_id: str, query: str) -> dict[str, Any]:
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
    message = json.loads(await ws.recv())
    assert message["type"] == "next", message
    assert json.loads(await ws.recv()) == {"id": op_id, "type": "complete"}
    payload: dict[str, Any] = message["payload"]
    return payload


async def test_websocket_operations_each_get_fresh_loaders(
    gateway_server: ServerThread, issuer: Issuer, downstream: Downstream
) -> None:
    """Over a websocket the context lives as long as the connection; DataLoaders must not."""
    item = downstream.add_item()
    downstream.set_stats(item.id, shares=1, clicks=5, unique_clicks=5, reach=100)
    token = employee_headers(issuer)["Authorization"]

    async with connect(ws_url(gateway_server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"

        first = await _ws_operation(ws, "1", STATS_QUERY)
        downstream.set_stats(item.id, shares=2, clicks=9, unique_clicks=8, reach=200)
        second = await _ws_operation(ws, "2", STATS_QUERY)

    item_id = to_global_id("ContentItem", item.id)
    assert first == {"data": {"feed": {"edges": [{"node": {"id": item_id, "stats": {"clicks": 5}}}]}}}
    assert second == {"data": {"feed": {"edges": [{"node": {"id": item_id, "stats": {"clicks": 9}}}]}}}
    assert len(downstream.calls_to("metrics", "/api/v1/content-stats/batch")) == 2
    assert downstream.calls_to("metrics")[0].headers["authorization"] == token


@pytest.mark.parametrize("payload", [{}, {"Authorization": "Bearer forged"}])
async def test_websocket_without_a_valid_token_is_closed(
    gateway_server: ServerThread, downstream: Downstream, payload: dict[str, str]
) -> None:
    async with connect(ws_url(gateway_server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert downstream.calls == []


async def test_legacy_graphql_ws_protocol_is_refused(gateway_server: ServerThread, issuer: Issuer) -> None:
    token = employee_headers(issuer)["Authorization"]
    with pytest.raises((ConnectionClosed, InvalidHandshake)) as refused:
        async with connect(ws_url(gateway_server), subprotocols=[Subprotocol("graphql-ws")]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
            await ws.recv()
    if isinstance(refused.value, ConnectionClosed):
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 4406


# --- health -------------------------------------------------------------------------------------


async def test_readiness_checks_every_service(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream
) -> None:
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": ["content", "metrics", "policy", "sharing"]}
    assert {c.service for c in downstream.calls if c.path == "/healthz"} == {
        "content",
        "policy",
        "sharing",
        "metrics",
    }

    dead = f"http://127.0.0.1:{free_port()}"
    async with running(build_app(gateway_settings(issuer, downstream, SHARING_SERVICE_URL=dead))) as client:
        not_ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert not_ready.status_code == 503
    assert list(not_ready.json()["failures"]) == ["sharing"]
    assert alive.status_code == 200  # liveness never depends on another service


# --- the development issuer ---------------------------------------------------------------------


async def test_dev_issuer_is_absent_unless_configured(gateway: httpx.AsyncClient) -> None:
    for path in ("/dev-issuer/jwks", "/dev-issuer/.well-known/openid-configuration"):
        response = await gateway.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    minted = await gateway.post("/dev-issuer/token", json={"subject": "x", "org": ORG, "roles": ["admin"]})
    assert minted.status_code == 404


@pytest.mark.parametrize("environment", ["production", "prod", "staging", ""])
def test_dev_issuer_runs_only_in_development(
    tmp_path: Path, issuer: Issuer, downstream: Downstream, environment: str
) -> None:
    settings = gateway_settings(
        issuer, downstream, ENVIRONMENT=environment, DEV_ISSUER_KEY_FILE=str(tmp_path / "key.pem")
    )
    with pytest.raises(RuntimeError, match="ENVIRONMENT=development"):
        build_app(settings)


async def test_dev_issuer_token_verifies_with_the_served_jwks(
    tmp_path: Path, issuer: Issuer, downstream: Downstream
) -> None:
    own_issuer = "http://gateway.test/dev-issuer"
    settings = gateway_settings(
        issuer, downstream, DEV_ISSUER_KEY_FILE=str(tmp_path / "key.pem"), OIDC_ISSUER=own_issuer
    )
    app = build_app(settings)
    async with running(app) as client:
        discovery = (await client.get("/dev-issuer/.well-known/openid-configuration")).json()
        jwks = (await client.get("/dev-issuer/jwks")).json()
        minted = await client.post(
            "/dev-issuer/token",
            json={
                "subject": "dev-1",
                "org": ORG,
                "roles": ["curator", "employee"],
                "name": "Dev",
                "ttl_seconds": 600,
            },
        )

        assert minted.status_code == 200, minted.text
        body = minted.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 600
        assert discovery == {
            "issuer": own_issuer,
            "jwks_uri": f"{own_issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        assert [k["alg"] for k in jwks["keys"]] == ["RS256"]
        assert "d" not in jwks["keys"][0], "the JWKS must hold the public key only"

    # Verified as a service would, with the keys fetched from the gateway's JWKS.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as http:
        verifier = TokenVerifier(issuer=own_issuer, audience=AUDIENCE, jwks_url=discovery["jwks_uri"], http=http)
        caller = await verifier.verify(body["access_token"])
        # A token signed with another key does not verify against this JWKS.
        other = issuer.issuer.mint(subject="x", org_id=ORG, roles=["admin"])
        with pytest.raises(ApiError) as refused:
            await verifier.verify(other)
    assert caller.subject == "dev-1"
    assert str(caller.org_id) == ORG
    assert caller.roles == frozenset({"curator", "employee"})
    assert caller.name == "Dev"
    assert refused.value.code == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"subject": "a", "org": ORG, "roles": ["employee"], "ttl_seconds": 86_401}, ["body", "ttl_seconds"]),
        ({"subject": "a", "org": ORG, "roles": ["employee"], "ttl_seconds": 0}, ["body", "ttl_seconds"]),
        ({"subject": "a", "org": ORG, "roles": ["superuser"]}, ["body", "roles", 0]),
        ({"subject": "a", "org": "not-a-uuid", "roles": ["employee"]}, ["body", "org"]),
        ({"subject": "", "org": ORG, "roles": ["employee"]}, ["body", "subject"]),
        ({"subject": "a", "org": ORG, "roles": []}, ["body", "roles"]),
    ],
)
async def test_dev_issuer_refuses_invalid_token_requests(
    tmp_path: Path, issuer: Issuer, downstream: Downstream, body: dict[str, Any], loc: list[Any]
) -> None:
    settings = gateway_settings(issuer, downstream, DEV_ISSUER_KEY_FILE=str(tmp_path / "key.pem"))
    async with running(build_app(settings)) as client:
        response = await client.post("/dev-issuer/token", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [d["loc"] for d in error["details"]] == [loc]


def test_dev_token_works_end_to_end_over_http(tmp_path: Path, issuer: Issuer, downstream: Downstream) -> None:
    """As ``make run`` wires it: the gateway serves the issuer and verifies against its own JWKS."""
    port = free_port()
    own_issuer = f"http://127.0.0.1:{port}/dev-issuer"
    settings = gateway_settings(
        issuer,
        downstream,
        DEV_ISSUER_KEY_FILE=str(tmp_path / "key.pem"),
        OIDC_ISSUER=own_issuer,
        OIDC_JWKS_URL=f"{own_issuer}/jwks",
    )
    server = ServerThread(build_app(settings), port, lifespan="on").start()
    try:
        subject = f"dev-{uuid.uuid4().hex[:6]}"
        minted = httpx.post(
            f"{server.url}/dev-issuer/token", json={"subject": subject, "org": ORG, "roles": ["employee"]}
        )
        assert minted.status_code == 200, minted.text
        token = minted.json()["access_token"]
        answer = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ me { subject orgId roles } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        forged = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ me { subject } }"},
            headers=issuer.headers(org=ORG, roles=["admin"]),  # signed by another key
        )
    finally:
        server.stop()
    assert answer.status_code == 200
    assert json.loads(answer.text) == {"data": {"me": {"subject": subject, "orgId": ORG, "roles": ["EMPLOYEE"]}}}
    assert error_codes(forged.json()) == ["unauthenticated"]


SHARE_UPDATED = "subscription($id: ID!) { shareUpdated(id: $id) { id status violations { code } } }"


def pending_share(downstream: Downstream) -> uuid.UUID:
    return downstream.add_share(member="employee-1").id


async def test_share_updated_without_events_falls_back_on_the_safety_reread(
    issuer: Issuer, downstream: Downstream
) -> None:
    """Pushes come from events (test_live_subscriptions.py); with no broker, the slow re-read (here made
    fast) still brings each status until the share settles."""
    settings = gateway_settings(issuer, downstream, GRAPHQL_LIVE_EVENTS=False, GRAPHQL_SUBSCRIPTION_REREAD_SECONDS=0.05)
    server = ServerThread(build_app(settings), lifespan="on").start()
    try:
        await _watch_until_rejected(server, issuer, downstream)
    finally:
        server.stop()


async def _watch_until_rejected(gateway_server: ServerThread, issuer: Issuer, downstream: Downstream) -> None:
    share_id = pending_share(downstream)
    token = employee_headers(issuer)["Authorization"]
    async with connect(ws_url(gateway_server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        subscribe = {"query": SHARE_UPDATED, "variables": {"id": to_global_id("Share", share_id)}}
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": subscribe}))
        first = json.loads(await ws.recv())
        assert first["payload"]["data"]["shareUpdated"]["status"] == "PENDING_POLICY"
        downstream.update_share(share_id, status="rejected", violations=[{"code": "too_long", "message": "too long"}])
        second = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert second["payload"]["data"]["shareUpdated"] == {
            "id": to_global_id("Share", share_id), "status": "REJECTED", "violations": [{"code": "too_long"}],
        }  # fmt: skip
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"id": "s", "type": "complete"}
    polls = downstream.calls_to("sharing", f"/api/v1/shares/{share_id}")
    assert all(call.headers["authorization"] == token for call in polls)


async def test_share_updated_never_leaks_an_unexpected_error(
    gateway_server: ServerThread, issuer: Issuer, downstream: Downstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: Any) -> Any:
        raise RuntimeError("db password=hunter2")

    monkeypatch.setattr("gateway.schema.Share.from_model", broken)
    share_id = pending_share(downstream)
    token = employee_headers(issuer)["Authorization"]
    async with connect(ws_url(gateway_server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        subscribe = {"query": SHARE_UPDATED, "variables": {"id": to_global_id("Share", share_id)}}
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": subscribe}))
        answer = await asyncio.wait_for(ws.recv(), 5)
    assert "hunter2" not in answer
    message = json.loads(answer)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert errors[0]["extensions"]["code"] == "internal"

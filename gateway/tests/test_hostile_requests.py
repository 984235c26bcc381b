"""Issue 12, points 3-5 on the gateway: what a stranger sends is a client error with the request id
(never a 500), a body too large is refused before it is read, and production shows no map of the API
to strangers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.requests import Request
from starlette.types import Message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from condividi.testing import Issuer, running
from gateway.main import build_app
from gateway.protocol import ProtocolError, read_body
from gateway.tests.conftest import employee_headers, error_codes, gateway_settings
from gateway.tests.fakes import Downstream, ServerThread

CHECK = "query($t: String!) { checkPost(network: LINKEDIN, text: $t) { outcome } }"
NESTED = "[" * 1000 + "]" * 1000


def request_headers(issuer: Issuer, **extra: str) -> dict[str, str]:
    return {**employee_headers(issuer), "X-Request-ID": "probe-12", "Content-Type": "application/json", **extra}


def assert_client_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"] == "probe-12"
    assert error_codes(response.json()) == [code]


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (NESTED.encode(), "nested too deeply"),
        (b'{"query": "{ me { subject } }", "variables": {"a": ' + NESTED.encode() + b"}}", "nested too deeply"),
        (b'{"query": "{ me { subject } }", "operationName": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"query": "' + CHECK.encode() + b'", "variables": {"t": "\\ud800"}}', "lone surrogate"),
        (b'{"query": "' + CHECK.encode() + b'", "variables": {"\\udfff": "x"}}', "lone surrogate"),
        (b'{"query": "{ me { subject } }", "operationName": "\\ud800"}', "lone surrogate"),
    ],
)
async def test_a_malformed_post_is_a_bad_request(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream, body: bytes, why: str
) -> None:
    response = await gateway.post("/graphql", content=body, headers=request_headers(issuer))

    assert_client_error(response, 400, "BAD_REQUEST")
    assert why in response.json()["errors"][0]["message"]
    assert downstream.calls == []


@pytest.mark.parametrize(
    ("variables", "why"),
    [('{"t": "\\ud800"}', "lone surrogate"), ('{"t": ' + NESTED + "}", "nested too deeply")],
)
async def test_malformed_variables_over_get_are_a_bad_request(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream, variables: str, why: str
) -> None:
    response = await gateway.get(
        "/graphql", params={"query": CHECK, "variables": variables}, headers=request_headers(issuer)
    )

    assert_client_error(response, 400, "BAD_REQUEST")
    assert why in response.json()["errors"][0]["message"]
    assert downstream.calls == []


async def test_a_lone_surrogate_in_the_document_is_a_parse_error(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    query = '{ checkPost(network: LINKEDIN, text: "\\ud800") { outcome } }'
    response = await gateway.post("/graphql", json={"query": query}, headers=request_headers(issuer))

    assert response.status_code == 200
    assert error_codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]


@pytest.fixture
def server(issuer: Issuer, downstream: Downstream) -> Iterator[ServerThread]:
    settings = gateway_settings(issuer, downstream, GRAPHQL_MAX_BODY_BYTES=4096)
    running_server = ServerThread(build_app(settings), lifespan="on").start()
    try:
        yield running_server
    finally:
        running_server.stop()


def ws_url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def test_a_lone_surrogate_over_the_websocket_is_bad_user_input(
    server: ServerThread, issuer: Issuer, downstream: Downstream
) -> None:
    token = employee_headers(issuer)["Authorization"]
    async with connect(ws_url(server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        # json.dumps writes the lone surrogate as the escape "\ud800", as a client would.
        payload = {"query": CHECK, "variables": {"t": "\ud800"}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        # The connection is still good for the next operation.
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "{ me { subject } }"}}))
        following = json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert message["type"] in ("error", "next"), message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert following == {"id": "2", "type": "next", "payload": {"data": {"me": {"subject": "employee-1"}}}}
    assert downstream.calls_to("policy") == []


async def test_a_websocket_message_nested_too_deeply_closes_as_invalid(server: ServerThread, issuer: Issuer) -> None:
    token = employee_headers(issuer)["Authorization"]
    async with connect(ws_url(server), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send('{"id": "1", "type": "subscribe", "payload": ' + NESTED + "}")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)

    assert ws.close_code == 4400  # "not a message": the client's fault, not the server's 1011


# --- body size ----------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    body = json.dumps({"query": "{ me { subject } }", "variables": {"pad": ""}}).encode()
    return body.replace(b'""', b'"' + b"x" * (size - len(body)) + b'"')


async def test_a_body_over_the_limit_is_refused_by_its_length(server: ServerThread, issuer: Issuer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        fits = await client.post("/graphql", content=padded(4096), headers=request_headers(issuer))
        too_large = await client.post("/graphql", content=padded(4097), headers=request_headers(issuer))

    assert fits.status_code == 200, fits.text
    assert fits.json() == {"data": {"me": {"subject": "employee-1"}}}
    assert_client_error(too_large, 413, "PAYLOAD_TOO_LARGE")


async def test_a_streamed_body_over_the_limit_is_refused_as_it_comes(server: ServerThread, issuer: Issuer) -> None:
    """Chunked, so no Content-Length: the 413 comes once the limit is passed, while the client is still
    sending (a client over a raw socket, reading between chunks, as a browser's upload does)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = [
        "POST /graphql HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "X-Request-ID: probe-12",
        f"Authorization: {employee_headers(issuer)['Authorization']}",
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    body = padded(1_000_000)
    answer = b""
    sent = 0
    try:
        while sent < len(body) and not answer:
            chunk = body[sent : sent + 1024]
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), 0.05)
        while b"\r\n\r\n" in answer and not answer.endswith(b"}"):
            more = await asyncio.wait_for(reader.read(65536), 5)
            if not more:
                break
            answer += more
    finally:
        writer.close()

    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"x-request-id: probe-12" in headers.lower()
    assert json.loads(payload)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert sent < 64 * 1024  # refused long before the end of the megabyte


async def test_a_streamed_body_within_the_limit_is_read(server: ServerThread, issuer: Issuer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = padded(4000)
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/graphql", content=chunks(), headers=request_headers(issuer))

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.json() == {"data": {"me": {"subject": "employee-1"}}}


async def test_reading_stops_at_the_limit() -> None:
    """Nothing past the first chunk over the limit is read: an endless body costs the limit."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/graphql", "query_string": b""}
    with pytest.raises(ProtocolError) as refused:
        await read_body(Request(scope, receive), 4096)

    assert (refused.value.code, refused.value.statuses) == ("PAYLOAD_TOO_LARGE", (413, 413))
    assert received == 5


# --- production ---------------------------------------------------------------------------------

TYPO = "{ mee { subject } }"
ENUM_TYPO = '{ checkPost(network: LINKEDINN, text: "hi") { outcome } }'
VARIABLE_TYPO = (
    "mutation($i: CreateTeamInput!) { createTeam(input: $i) { team { id } } }",
    {"i": {"name": "Sales", "nmae": "Sales"}},
)


async def refusals(client: httpx.AsyncClient, issuer: Issuer) -> list[str]:
    messages = []
    for query, variables in ((TYPO, None), (ENUM_TYPO, None), VARIABLE_TYPO):
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=employee_headers(issuer)
        )
        messages.append(response.json()["errors"][0]["message"])
    return messages


async def exposure(client: httpx.AsyncClient, issuer: Issuer) -> dict[str, Any]:
    ide = await client.get("/graphql", headers={"Accept": "text/html"})
    introspection = {"query": get_introspection_query()}
    stranger = await client.post("/graphql", json=introspection)
    member = await client.post("/graphql", json=introspection, headers=employee_headers(issuer))
    typename = await client.post("/graphql", json={"query": "{ __typename }"})
    return {
        "ide": ide.status_code == 200 and "graphiql" in ide.text.lower(),
        "stranger": error_codes(stranger.json()) or "__schema" in stranger.json()["data"],
        "member": "__schema" in member.json()["data"],
        "typename": typename.json(),
        "suggestions": ["Did you mean" in m for m in await refusals(client, issuer)],
    }


async def test_production_shows_strangers_no_map_of_the_api(issuer: Issuer, downstream: Downstream) -> None:
    async with running(build_app(gateway_settings(issuer, downstream, ENVIRONMENT="production"))) as client:
        seen = await exposure(client, issuer)

    assert seen == {
        "ide": False,
        "stranger": ["INTROSPECTION_DISABLED"],
        "member": True,  # a signed-in client may still read the schema
        "typename": {"data": {"__typename": "Query"}},  # not introspection of the schema
        "suggestions": [False, False, False],
    }


async def test_development_keeps_the_explorers_tools(issuer: Issuer, downstream: Downstream) -> None:
    async with running(build_app(gateway_settings(issuer, downstream, ENVIRONMENT="development"))) as client:
        seen = await exposure(client, issuer)

    assert seen == {
        "ide": True,
        "stranger": True,
        "member": True,
        "typename": {"data": {"__typename": "Query"}},
        "suggestions": [True, True, True],
    }


async def test_production_can_turn_each_back_on(issuer: Issuer, downstream: Downstream) -> None:
    settings = gateway_settings(
        issuer,
        downstream,
        ENVIRONMENT="production",
        GRAPHQL_IDE=True,
        GRAPHQL_UNAUTHENTICATED_INTROSPECTION=True,
        GRAPHQL_FIELD_SUGGESTIONS=True,
    )
    async with running(build_app(settings)) as client:
        seen = await exposure(client, issuer)

    assert (seen["ide"], seen["stranger"], seen["suggestions"]) == (True, True, [True, True, True])

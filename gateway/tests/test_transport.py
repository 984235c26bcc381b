"""The gateway's HTTP client for the services (gateway/transport.py) against raw sockets that misbehave
as a service or the network can: an answer that never comes, a refused connection, an answer cut
short, and a kept-alive connection the service closed while it was idle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from condividi.devstack.infra import free_port
from gateway.transport import ServiceTimeout, ServiceTransport, ServiceUnreachable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def answer(body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode() + body


@pytest.fixture
async def transport() -> AsyncIterator[ServiceTransport]:
    client = ServiceTransport(timeout_seconds=0.5, connect_timeout_seconds=0.5, max_connections=4, keepalive_seconds=30)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def serving(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_a_json_call_carries_its_body_query_and_headers(transport: ServiceTransport) -> None:
    seen: list[tuple[str, bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(answer(b'{"ok": true}'))
        await writer.drain()
        writer.close()

    server, url = await serving(echo)
    async with server:
        response = await transport.request(
            "POST",
            f"{url}/api/v1/things",
            headers={"Authorization": "Bearer t"},
            params={"limit": "5"},
            json_body={"ids": ["a"]},
        )

    assert (response.status, response.json()) == (200, {"ok": True})
    (head, body) = seen[0]
    assert head.startswith("POST /api/v1/things?limit=5 HTTP/1.1\r\n")
    assert "Authorization: Bearer t" in head and "Content-Type: application/json" in head
    assert json.loads(body) == {"ids": ["a"]}


async def test_a_service_that_does_not_answer_in_time_is_a_timeout(transport: ServiceTransport) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    server, url = await serving(silent)
    async with server:
        with pytest.raises(ServiceTimeout):
            await transport.request("GET", f"{url}/slow", headers={})


async def test_a_refused_connection_is_unreachable(transport: ServiceTransport) -> None:
    with pytest.raises(ServiceUnreachable):
        await transport.request("GET", f"http://127.0.0.1:{free_port()}/", headers={})


async def test_an_answer_cut_short_is_unreachable_not_a_partial_body(transport: ServiceTransport) -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"items": [', length=100))
        await writer.drain()
        writer.close()

    server, url = await serving(truncated)
    async with server:
        with pytest.raises(ServiceUnreachable):
            await transport.request("GET", f"{url}/cut", headers={})


async def test_a_kept_alive_connection_the_service_closed_is_not_reused(transport: ServiceTransport) -> None:
    """The service answers and closes the connection while it idles in the pool (as uvicorn does after
    its keep-alive timeout): the next call, a POST that is never retried, opens a new one."""
    connections = 0

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    server, url = await serving(answer_once)
    async with server:
        first = await transport.request("POST", f"{url}/a", headers={}, json_body={})
        await asyncio.sleep(0.2)  # the service has closed it meanwhile
        second = await transport.request("POST", f"{url}/b", headers={}, json_body={})

    assert (first.status, second.status, connections) == (200, 200, 2)

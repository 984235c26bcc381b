"""Request size limits of the services, through a real uvicorn (its HTTP parser decides what reaches the
app): oversized headers answer 431 and oversized bodies 413, in the one error shape, on the API and on
the click redirect's fast path alike, before anything parses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from condividi.devstack.infra import free_port
from services.sharing.main import build_app
from services.sharing.settings import SharingSettings

MAX_BODY = 64 * 1024
MAX_HEADERS = 16 * 1024
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"


@asynccontextmanager
async def serving(http: Literal["httptools", "h11"], **config: Any) -> AsyncIterator[str]:
    """The sharing service on a real uvicorn, without its lifespan: the limits come before any route,
    database or broker, so none is needed."""
    app = build_app(SharingSettings(MAX_BODY_BYTES=MAX_BODY, MAX_HEADER_BYTES=MAX_HEADERS))
    server_config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), lifespan="off", http=http, log_config=None, **config
    )
    server = uvicorn.Server(server_config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server_config.port}"
    finally:
        server.should_exit = True
        await task


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] and error["request_id"] == response.headers["x-request-id"]


async def test_an_eight_mebibyte_user_agent_is_refused_on_the_click_path_and_the_api() -> None:
    # httptools, uvicorn's parser by default, has no header limit of its own: this is the app's refusal.
    async with serving("httptools") as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        huge = {"User-Agent": BROWSER + " " + "x" * (8 * 1024 * 1024)}
        assert_error(await client.get("/r/abcdefgh", headers=huge), 431, "request_header_fields_too_large")
        assert_error(await client.get("/healthz", headers=huge), 431, "request_header_fields_too_large")
        # Many headers adding up count as much as one large one.
        many = {f"X-Filler-{n}": "y" * 1000 for n in range(20)}
        assert_error(await client.get("/healthz", headers=many), 431, "request_header_fields_too_large")
        assert (await client.get("/healthz", headers={"User-Agent": BROWSER})).status_code == 200


async def test_with_h11_the_refusal_is_the_same_when_its_own_limit_is_set_above_ours() -> None:
    async with (
        serving("h11", h11_max_incomplete_event_size=4 * MAX_HEADERS) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        big = {"User-Agent": BROWSER + " " + "x" * (2 * MAX_HEADERS)}
        assert_error(await client.get("/r/abcdefgh", headers=big), 431, "request_header_fields_too_large")
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(
    http: Literal["httptools", "h11"],
) -> None:
    async with serving(http) as url, httpx.AsyncClient(base_url=url) as client:
        body = b'{"text": "' + b"a" * (MAX_BODY + 1) + b'"}'
        response = await client.post("/api/v1/shares", content=body, headers={"Content-Type": "application/json"})
        assert_error(response, 413, "payload_too_large")
        # Just within the limit, the request goes on to the route (which wants a token).
        within = b'{"text": "' + b"a" * (MAX_BODY - 100) + b'"}'
        response = await client.post("/api/v1/shares", content=within, headers={"Content-Type": "application/json"})
        assert response.status_code == 401, response.text


@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_a_chunked_body_is_refused_once_it_passes_the_limit(http: Literal["httptools", "h11"]) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(64):  # 4 MiB in all, unless the server stops reading
            sent += 64 * 1024
            yield b"a" * (64 * 1024)
        yield b'"}'

    async with serving(http) as url, httpx.AsyncClient(base_url=url) as client:
        try:
            response = await client.post(
                "/api/v1/shares", content=chunks(), headers={"Content-Type": "application/json"}
            )
        except httpx.WriteError:
            # The server answered 413 and closed while the client still wrote: also a refusal, but
            # the answer is what this test wants to read, so it must come before the close.
            pytest.fail("the connection closed before the 413 was read")
        assert "content-length" not in response.request.headers, "the body should have gone chunked"
        assert_error(response, 413, "payload_too_large")

"""The gateway's HTTP/1.1 client for the four services: one aiohttp session (one connection pool) per
process.

Not httpx: under load its pool was about half of the gateway's CPU (bench/README.md). httpcore checks
every idle connection it holds for expiry on every request (a ``poll`` per socket), and each call goes
through anyio's stream, lock and cancel-scope wrappers. aiohttp's connector hands out a kept-alive
connection from a per-host list and learns that a service closed one from the event loop, without
asking each socket.

A client span per call (as the httpx instrumentation made before), whose ``traceparent`` the service
continues. The JWKS is still read with httpx (``condividi/identity/verifier.py``): once an hour, not
per request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, Status, StatusCode

from condividi.tracing import tracer_provider


class ServiceTimeout(Exception):
    """The service did not answer (or could not be reached) within the timeout."""


class ServiceUnreachable(Exception):
    """The connection failed or broke before a whole answer arrived."""


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    status: int
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class ServiceTransport:
    """``timeout_seconds`` bounds a whole call, ``connect_timeout_seconds`` opening its connection;
    at most ``max_connections`` are open at once (a call waits for one beyond that, within its timeout).
    An idle connection is kept ``keepalive_seconds``: below uvicorn's own 5 s, so that the gateway lets a
    connection go before the service closes it under a request."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_connections: int,
        keepalive_seconds: float,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=connect_timeout_seconds)
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._tracer = tracer_provider().get_tracer("gateway.transport")

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, keepalive_timeout=self._keepalive_seconds
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            # The services answer JSON uncompressed; no cookies travel between them and the gateway.
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the gateway's HTTP client exists only while the app runs (lifespan)")
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        timeout_seconds: float | None = None,
    ) -> ServiceResponse:
        """Sends one request and reads the whole answer; raises ``ServiceTimeout`` or
        ``ServiceUnreachable``, never aiohttp's own errors. ``headers`` is completed in place with the
        trace context."""
        data = None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(total=timeout_seconds) if timeout_seconds is not None else None
        with self._tracer.start_as_current_span(method, kind=SpanKind.CLIENT) as span:
            if span.is_recording():
                span.set_attribute("http.request.method", method)
                span.set_attribute("url.full", url)
            inject(headers)
            try:
                async with self.session.request(
                    method, url, params=params or None, data=data, headers=headers, timeout=timeout or self._timeout
                ) as response:
                    answer = ServiceResponse(response.status, await response.read())
            except TimeoutError as exc:
                _failed(span, "timeout")
                raise ServiceTimeout(repr(exc)[:200]) from exc
            except aiohttp.ClientError as exc:
                _failed(span, type(exc).__name__)
                raise ServiceUnreachable(repr(exc)[:200]) from exc
            if span.is_recording():
                span.set_attribute("http.response.status_code", answer.status)
                if answer.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return answer


def _failed(span: trace.Span, kind: str) -> None:
    if span.is_recording():
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR))

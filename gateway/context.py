"""What a GraphQL operation runs with: the process-wide runtime (the pooled HTTP client for the
services, the token verifier) and the request's verified caller.

Authentication happens in the context getter, but a missing or invalid token does not fail the HTTP
request there: the context records why, and every root field refuses with a GraphQL error whose
``extensions.code`` is ``unauthenticated`` (HTTP 200, ``data`` null for the refused fields). One way
of reporting errors for GraphQL clients, and GraphiQL's page and schema introspection load without a
token. Websocket connections are refused at ``connection_init`` instead (see ``schema.py``).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from functools import cached_property

import httpx
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from condividi.errors import ApiError
from condividi.identity import Caller, TokenVerifier
from condividi.identity.verifier import TOKEN_REQUIRED
from condividi.observability import current_request_id, current_traceparent
from condividi.tracing import instrument_http_client
from gateway.clients import Credentials, Services, check_health
from gateway.errors import GatewayError, unauthenticated
from gateway.live import Hub, LiveEvents
from gateway.loaders import Loaders, current_loaders
from gateway.settings import GatewaySettings
from gateway.transport import ServiceTransport

log = logging.getLogger(__name__)

# httpcore asks ``import sniffio`` on every request to learn the event loop; sniffio is not installed
# (nothing needs it), and a failed import is not remembered, so each call searched sys.path again: 8%
# of the gateway's CPU in the profile (bench/README.md). ``None`` in sys.modules makes that import fail
# at once, and httpcore then assumes asyncio, which is what runs here.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


class GatewayRuntime:
    """What the process holds while it runs; made in the lifespan, reached through ``app.state``."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.urls = settings.service_urls()
        self._http: ServiceTransport | None = None
        self._jwks_http: httpx.AsyncClient | None = None
        self._verifier: TokenVerifier | None = None
        # Subscriptions wait on the hub; the consumer rings it from the events (gateway/live.py).
        self.hub = Hub()
        self.live = LiveEvents(settings, self.hub) if settings.GRAPHQL_LIVE_EVENTS else None

    async def start(self) -> None:
        # One pooled client for the process (engineering.md, trap 4) for the services' calls.
        self._http = ServiceTransport(
            timeout_seconds=self.settings.SERVICE_TIMEOUT_SECONDS,
            connect_timeout_seconds=self.settings.SERVICE_CONNECT_TIMEOUT_SECONDS,
            max_connections=self.settings.SERVICE_MAX_CONNECTIONS,
            keepalive_seconds=self.settings.SERVICE_KEEPALIVE_SECONDS,
        )
        await self._http.start()
        # The key set is read about once an hour: a small client of its own, traced like the services'.
        self._jwks_http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                self.settings.SERVICE_TIMEOUT_SECONDS, connect=self.settings.SERVICE_CONNECT_TIMEOUT_SECONDS
            ),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=1),
            follow_redirects=False,
        )
        instrument_http_client(self._jwks_http)
        self._verifier = TokenVerifier(
            issuer=self.settings.OIDC_ISSUER,
            audience=self.settings.OIDC_AUDIENCE,
            jwks_url=self.settings.OIDC_JWKS_URL,
            http=self._jwks_http,
        )
        if self.live is not None:
            await self.live.start()

    async def stop(self) -> None:
        if self.live is not None:
            await self.live.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._jwks_http is not None:
            await self._jwks_http.aclose()
            self._jwks_http = None

    @property
    def http(self) -> ServiceTransport:
        if self._http is None:
            raise RuntimeError("the gateway's HTTP client exists only while the app runs (lifespan)")
        return self._http

    @property
    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            raise RuntimeError("the token verifier exists only while the app runs (lifespan)")
        return self._verifier

    def services(self, credentials: Credentials) -> Services:
        return Services(self.http, self.urls, credentials)

    async def service_ready(self, name: str) -> None:
        await check_health(self.http, name, self.urls[name])

    async def authenticate(self, authorization: str | None) -> Caller:
        """Verifies ``Authorization: Bearer <token>``; raises ``GatewayError`` (unauthenticated, or
        identity_provider_unavailable when the JWKS cannot be read)."""
        try:
            return await self.verifier.verify_authorization(authorization)
        except ApiError as exc:
            raise GatewayError(exc.code, exc.message, status=exc.status, details=exc.details) from exc


class GatewayContext(BaseContext):
    def __init__(self, runtime: GatewayRuntime, *, caller: Caller | None, auth_error: GatewayError | None) -> None:
        super().__init__()
        self.runtime = runtime
        self.caller = caller
        self.auth_error = auth_error
        # Over HTTP the middleware has set it already; forwarded to every service call.
        self.request_id = current_request_id()
        self.traceparent = current_traceparent()

    def require_caller(self) -> Caller:
        if self.caller is None:
            raise self.auth_error or unauthenticated(TOKEN_REQUIRED)
        return self.caller

    @cached_property
    def services(self) -> Services:
        """The service clients acting for the caller (refuses an unauthenticated caller)."""
        caller = self.require_caller()
        return self.runtime.services(
            Credentials(token=caller.token, request_id=self.request_id, traceparent=self.traceparent)
        )

    @property
    def loaders(self) -> Loaders:
        return current_loaders()

    async def authenticate(self, authorization: str | None) -> None:
        try:
            self.caller, self.auth_error = await self.runtime.authenticate(authorization), None
        except GatewayError as exc:
            self.caller, self.auth_error = None, exc
            if exc.status >= 500:
                log.warning("cannot verify tokens", extra={"code": exc.code, "error": exc.message})


async def get_context(connection: HTTPConnection) -> GatewayContext:
    """The GraphQL router's context getter (a FastAPI dependency): per HTTP request, or once per
    websocket connection."""
    runtime: GatewayRuntime = connection.app.state.runtime
    context = GatewayContext(runtime, caller=None, auth_error=None)
    await context.authenticate(connection.headers.get("authorization"))
    return context

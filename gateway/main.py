"""The gateway's app: GraphQL at ``/graphql`` (GraphiQL in a browser), ``/healthz`` ``/readyz``
``/metrics`` like every service, and the development issuer under ``/dev-issuer`` when configured.

Run it with ``uvicorn gateway.main:app --port 8000``; ``make run`` does, with the services beside it.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from condividi.errors import install_error_handlers
from condividi.limits import headers_within_limit
from condividi.observability import RequestContextMiddleware, configure_logging, freeze_startup_objects, health_routes
from condividi.openapi import install_openapi, operation_id, package_version
from condividi.tracing import configure_tracing, flush, instrument_app
from gateway.context import GatewayContext, GatewayRuntime, get_context
from gateway.dev_issuer_routes import dev_issuer_router
from gateway.http import graphql_http_endpoint
from gateway.persisted import DocumentStore, PersistedDocuments, load_trusted_documents
from gateway.schema import build_schema
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# The first generation is collected after this many more container objects are made than freed
# (Python's default: 700). An operation leaves no cycles (gateway/execution.py, loaders.py), so those
# collections found nothing, yet under load they ran every few requests and moved the objects of the
# requests in flight on to older generations, to be walked again there: 12% of the gateway's CPU in the
# profile after the cycles were gone (bench/README.md). At 50,000 (a few MB) they are rare; a cycle
# that does appear is still collected.
GC_THRESHOLDS = (50_000, 10, 10)


class GatewayGraphQLRouter(GraphQLRouter[GatewayContext, None]):
    """Strawberry's router, for its websocket only (GET and POST are ``gateway.http``'s)."""

    def decode_json(self, data: str | bytes) -> object:
        """A websocket message nested deeper than Python's decoder follows is not JSON the gateway can
        read: strawberry closes the connection as for any message that is not JSON (4400), rather than
        failing with the decoder's RecursionError."""
        try:
            return json.loads(data)
        except RecursionError:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            raise json.JSONDecodeError("the message is nested too deeply", text, 0) from None

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        """A websocket is authenticated once, at ``connection_init``: browsers cannot set headers on
        a websocket, so the token may come as ``{"Authorization": "Bearer ..."}`` in its payload.
        An unauthenticated connection is closed (4403) rather than kept open."""
        if context.caller is None:
            params = context.connection_params if isinstance(context.connection_params, dict) else {}
            header = params.get("Authorization") or params.get("authorization")
            if isinstance(header, str):
                await context.authenticate(header)
        if context.caller is None:
            error = context.auth_error
            raise ConnectionRejectionError(
                {
                    "code": error.code if error else "unauthenticated",
                    "message": error.message if error else "a bearer token is required",
                }
            )
        ack: UnsetType = UNSET  # no payload in connection_ack
        return ack


class GatewayApp(FastAPI):
    """FastAPI, refusing headers over ``max_header_bytes`` with 431 before anything parses the request,
    on HTTP and on a websocket's upgrade, as the services do (condividi/limits.py). The body's limit is
    not checked here: ``/graphql`` reads its body against its own, smaller ``GRAPHQL_MAX_BODY_BYTES``
    (gateway/http.py), and no other route reads one but the development issuer's, which never runs in
    production."""

    # Set from the settings by build_app.
    max_header_bytes: int = 16 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not await headers_within_limit(
            scope, receive, send, max_header_bytes=self.max_header_bytes
        ):
            return
        await super().__call__(scope, receive, send)


def _operation_id(route: APIRoute) -> str:
    # strawberry names its routes after its Python methods; name them by what they carry instead.
    if "graphql" in route.tags:
        return "graphql-get" if "GET" in (route.methods or ()) else "graphql-post"
    return operation_id(route)


def build_app(settings: GatewaySettings | None = None) -> GatewayApp:
    settings = settings or GatewaySettings()
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    configure_tracing(settings)
    # Fail closed: anywhere but a development environment the dev issuer would let anyone mint tokens.
    if settings.DEV_ISSUER_KEY_FILE is not None and settings.ENVIRONMENT != "development":
        raise RuntimeError(
            f"DEV_ISSUER_KEY_FILE is set with ENVIRONMENT={settings.ENVIRONMENT!r}: anyone could mint tokens; "
            "the development issuer runs only with ENVIRONMENT=development"
        )
    runtime = GatewayRuntime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        freeze_startup_objects()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("gateway started", extra={"services": runtime.urls})
        try:
            yield
        finally:
            await runtime.stop()
            flush()
            log.info("gateway stopped")

    app = GatewayApp(
        title="Condividi gateway",
        description="The GraphQL API for Condividi's frontends (POST /graphql; GraphiQL in a browser).",
        version=package_version(),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.max_header_bytes = settings.MAX_HEADER_BYTES
    # GraphQL takes the caller's token on /graphql; each field decides whether it needs one.
    install_openapi(app, token_optional_paths=("/graphql",))
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    def ready(name: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            await runtime.service_ready(name)

        return check

    app.router.routes.extend(health_routes({name: ready(name) for name in runtime.urls}))

    trusted = (
        load_trusted_documents(settings.GRAPHQL_TRUSTED_DOCUMENTS_FILE)
        if settings.GRAPHQL_TRUSTED_DOCUMENTS_FILE is not None
        else None
    )
    schema = build_schema(
        max_depth=settings.GRAPHQL_MAX_DEPTH,
        max_aliases=settings.GRAPHQL_MAX_ALIASES,
        max_cost=settings.GRAPHQL_MAX_COST,
        max_list_size=settings.GRAPHQL_COST_MAX_LIST_SIZE,
        default_list_size=settings.GRAPHQL_COST_DEFAULT_LIST_SIZE,
        max_document_bytes=settings.GRAPHQL_MAX_DOCUMENT_BYTES,
        max_tokens=settings.GRAPHQL_MAX_TOKENS,
        max_fragment_spreads=settings.GRAPHQL_MAX_FRAGMENT_SPREADS,
        trusted_documents=frozenset(trusted) if trusted is not None else None,
        unauthenticated_introspection=settings.graphql_unauthenticated_introspection,
        field_suggestions=settings.graphql_field_suggestions,
    )
    documents = PersistedDocuments(DocumentStore(settings.GRAPHQL_APQ_CACHE_BYTES), trusted)
    if trusted is not None:
        log.info("only trusted documents run", extra={"documents": len(trusted)})
    # Queries by GET (so that a persisted query is a short, cacheable URL) and POST, mutations by POST.
    endpoint = graphql_http_endpoint(
        schema, documents, max_body_bytes=settings.GRAPHQL_MAX_BODY_BYTES, ide=settings.graphql_ide
    )
    for method in ("GET", "POST"):
        app.add_api_route(
            "/graphql",
            endpoint,
            methods=[method],
            tags=["graphql"],
            summary=f"GraphQL over HTTP ({method})",
            response_model=None,
            operation_id=f"graphql-{method.lower()}",
        )
    graphql = GatewayGraphQLRouter(
        schema,
        context_getter=get_context,
        graphql_ide=None,
        # Only graphql-transport-ws: the legacy graphql-ws protocol had an auth bypass and no bound on
        # subscriptions (engineering.md, trap 3).
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=settings.GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION,
        tags=["graphql"],
    )
    graphql.routes[:] = [route for route in graphql.routes if isinstance(route, APIWebSocketRoute)]
    app.include_router(graphql, prefix="/graphql")

    if settings.DEV_ISSUER_KEY_FILE is not None:
        app.include_router(
            dev_issuer_router(
                settings.DEV_ISSUER_KEY_FILE, issuer=settings.OIDC_ISSUER, audience=settings.OIDC_AUDIENCE
            )
        )
        log.warning("serving the development issuer at /dev-issuer: development only")
    # Outermost: the server span covers the whole request, websockets included.
    instrument_app(app)
    return app


app = build_app()

"""Builds a service's FastAPI app the same way for all four services: error shape, request ids and
metrics, health endpoints, token verification, the database, the outbox relay and the consumers, and a
shutdown that finishes in-flight work before it closes anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from condividi.consumer import EventConsumer, Subscription
from condividi.db import Database
from condividi.errors import install_error_handlers
from condividi.events import dead_letter_topic, topic_of
from condividi.identity import TokenVerifier
from condividi.kafka import ensure_topics, make_producer
from condividi.limits import within_limits
from condividi.observability import RequestContextMiddleware, configure_logging, freeze_startup_objects, health_routes
from condividi.openapi import documents_errors, install_openapi, operation_id, package_version
from condividi.outbox import OutboxRelay
from condividi.settings import ServiceSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    """What a running service holds; routes reach it through ``request.app.state.runtime``."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.db = Database(
            settings.DATABASE_URL,
            producer=settings.SERVICE_NAME,
            topic=settings.kafka_name(topic_of(settings.SERVICE_NAME)),
            pool_size=settings.DATABASE_POOL_SIZE,
        )
        # One pooled client per process (for the JWKS and any outside call the service makes).
        self.http = httpx.AsyncClient(timeout=5.0)
        self.consumers: list[EventConsumer] = []
        self._relay_task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        # Stopped first at shutdown, before the consumers and the relay: work that still writes events.
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the Kafka producer exists only while the service runs")
        return self._producer

    async def start(self, subscriptions: Sequence[Subscription]) -> None:
        settings = self.settings
        consumed = [settings.kafka_name(t) for s in subscriptions for t in s.topics]
        await ensure_topics(settings, [self.db.topic, *consumed, *(dead_letter_topic(t) for t in consumed)])
        # aiokafka binds its clients to the running event loop, so they are made here, not at import.
        self._producer = make_producer(settings)
        await self._producer.start()
        self.relay = OutboxRelay(self.db, self._producer, poll_seconds=settings.OUTBOX_POLL_SECONDS)
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")
        for subscription in subscriptions:
            consumer = EventConsumer(subscription, self.db, self._producer, settings)
            await consumer.start()
            self.consumers.append(consumer)

    async def stop(self) -> None:
        # uvicorn has stopped accepting and finished in-flight requests by now; stop reading events,
        # publish what is committed, then close the clients.
        for stop in self.on_stop:
            await stop()
        for consumer in self.consumers:
            await consumer.stop()
        if self._producer is not None:
            await self.relay.drain_and_stop(self.settings.OUTBOX_DRAIN_SECONDS)
        if self._relay_task is not None:
            self._relay_task.cancel()  # already returned, unless the drain ran out of time
            await asyncio.gather(self._relay_task, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()
        await self.http.aclose()
        await self.db.dispose()

    async def kafka_ready(self) -> None:
        await self.producer.client.fetch_all_metadata()


class ServiceApp(FastAPI):
    """FastAPI, plus raw ASGI handlers for hot paths (the click redirect): a request whose path starts
    with one of ``fast_paths`` goes straight to its handler, past the middleware stack and routing,
    which cost several times what a bare handler does."""

    fast_paths: tuple[tuple[str, ASGIApp], ...] = ()
    # Set from the settings by create_service_app; refused before any parsing (condividi/limits.py).
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limited = await within_limits(
                scope, receive, send, max_header_bytes=self.max_header_bytes, max_body_bytes=self.max_body_bytes
            )
            if limited is None:
                return
            receive = limited
            path: str = scope["path"]
            for prefix, handler in self.fast_paths:
                if path.startswith(prefix):
                    await handler(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


@documents_errors(503)
async def database(request: Request) -> Database:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker thread,
    # two thread hops on every request that takes the database (bench/README.md, the read path).
    db: Database = request.app.state.runtime.db
    return db


DatabaseDep = Annotated[Database, Depends(database)]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] = (),
    on_startup: Callable[[ServiceRuntime], Any] | None = None,
) -> ServiceApp:
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    runtime = ServiceRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(subscriptions)
        if on_startup is not None:
            await on_startup(runtime)
        freeze_startup_objects()
        log.info("service started")
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = ServiceApp(
        title=title,
        description=description,
        version=package_version(),
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.runtime = runtime
    # What the service consumes, for whoever must know it from outside (its Kafka ACLs in deploy/k8s).
    app.state.subscriptions = tuple(subscriptions)
    app.max_header_bytes = settings.MAX_HEADER_BYTES
    app.max_body_bytes = settings.MAX_BODY_BYTES
    app.state.verifier = TokenVerifier(
        issuer=settings.OIDC_ISSUER,
        audience=settings.OIDC_AUDIENCE,
        jwks_url=settings.OIDC_JWKS_URL,
        http=runtime.http,
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.router.routes.extend(health_routes({"database": runtime.db.ping, "kafka": runtime.kafka_ready}))
    for router in routers:
        app.include_router(router)
    install_openapi(app)
    return app

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
from sqlalchemy import text
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Receive, Scope, Send

from condividi.consumer import EventConsumer, Subscription
from condividi.db import Database, utcnow
from condividi.errors import install_error_handlers
from condividi.events import dead_letter_topic, topic_of
from condividi.identity import TokenVerifier
from condividi.identity.caller import RosterLookup
from condividi.kafka import ensure_topics, make_producer
from condividi.limits import within_limits
from condividi.observability import (
    CONSUMER_LAG,
    DB_POOL_CONNECTIONS,
    DB_POOL_SIZE,
    OUTBOX_AGE,
    OUTBOX_BACKLOG,
    RequestContextMiddleware,
    configure_logging,
    freeze_startup_objects,
    health_routes,
)
from condividi.openapi import documents_errors, install_openapi, operation_id, package_version
from condividi.outbox import OutboxRelay
from condividi.settings import ServiceSettings
from condividi.tracing import configure_tracing, flush, instrument_app, instrument_engine, instrument_http_client

log = logging.getLogger(__name__)

# The backlog is counted up to this many rows (a bounded query however far the relay fell behind).
OUTBOX_BACKLOG_COUNT_LIMIT = 100_000
_BACKLOG = text("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT :limit) AS unpublished")
_OLDEST = text("SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1")


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
        instrument_engine(self.db.engine)
        # One pooled client per process (for the JWKS and any outside call the service makes).
        self.http = httpx.AsyncClient(timeout=5.0)
        instrument_http_client(self.http)
        self.consumers: list[EventConsumer] = []
        self._lag_labels: set[tuple[str, str, str]] = set()
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

    async def consumers_ready(self) -> None:
        stall = self.settings.CONSUMER_STALL_SECONDS
        problems = {c.subscription.group: p for c in self.consumers if (p := c.problem(stall)) is not None}
        if problems:
            raise RuntimeError(f"consumers not progressing: {problems}")

    async def refresh_metrics(self) -> None:
        """The gauges Prometheus reads at each scrape: the pool, the outbox backlog and the age of its
        oldest event (the same in every replica: one database), each consumer's lag. A dependency that
        does not answer within a second leaves its gauges as they were (its alert is /readyz's)."""
        pool = self.db.engine.sync_engine.pool
        if isinstance(pool, QueuePool):
            DB_POOL_SIZE.set(pool.size())
            DB_POOL_CONNECTIONS.labels("checked_out").set(pool.checkedout())
            DB_POOL_CONNECTIONS.labels("idle").set(pool.checkedin())
            DB_POOL_CONNECTIONS.labels("overflow").set(max(pool.overflow(), 0))
        try:
            async with asyncio.timeout(1.0), self.db.engine.connect() as connection:
                backlog = await connection.scalar(_BACKLOG, {"limit": OUTBOX_BACKLOG_COUNT_LIMIT})
                oldest = await connection.scalar(_OLDEST)
            OUTBOX_BACKLOG.set(backlog or 0)
            OUTBOX_AGE.set(max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer whatever the database does
            log.warning("outbox metrics unavailable", extra={"error": str(exc)})
        reported: set[tuple[str, str, str]] = set()
        for consumer in self.consumers:
            group = consumer.subscription.group
            try:
                async with asyncio.timeout(1.0):
                    lags = await consumer_lag(consumer)
            except Exception as exc:  # noqa: BLE001 - as above, for Kafka
                log.warning("consumer lag unavailable", extra={"group": group, "error": str(exc)})
                reported |= {labels for labels in self._lag_labels if labels[0] == group}
                continue
            for (topic, partition), lag in lags.items():
                labels = (group, topic, str(partition))
                CONSUMER_LAG.labels(*labels).set(lag)
                reported.add(labels)
        # A partition that moved to another replica is that replica's to report: a stale value here
        # would count its lag twice in the alert's sum.
        for labels in self._lag_labels - reported:
            CONSUMER_LAG.remove(*labels)
        self._lag_labels = reported


async def consumer_lag(consumer: EventConsumer) -> dict[tuple[str, int], int]:
    """Per assigned partition, the events after the consumer's position: its end offset from the
    brokers (so a stalled consumer's lag grows) less the next offset it will read (a batch in hand
    counts as read)."""
    client = consumer.consumer
    assigned = sorted(client.assignment())
    if not assigned:
        return {}
    ends = await client.end_offsets(assigned)
    return {(tp.topic, tp.partition): max(ends[tp] - await client.position(tp), 0) for tp in assigned}


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
    roster: Callable[[ServiceRuntime], RosterLookup] | None = None,
) -> ServiceApp:
    """``roster``: how the service reads the roster's word on a caller (its own copy, see
    condividi/roster_copy.py); without it, tokens are taken at their word."""
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    configure_tracing(settings)
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
            flush()
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
    app.state.roster = roster(runtime) if roster is not None else None
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
    app.router.routes.extend(
        health_routes(
            {"database": runtime.db.ping, "kafka": runtime.kafka_ready, "consumers": runtime.consumers_ready},
            [runtime.refresh_metrics],
        )
    )
    for router in routers:
        app.include_router(router)
    install_openapi(app)
    # Outermost, so the server span covers the whole request; fast paths (ServiceApp) go around it.
    instrument_app(app)
    return app

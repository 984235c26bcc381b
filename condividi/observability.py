"""JSON logs that carry the request id (or, in consumers, the event id), one access line per request,
Prometheus metrics, and the ``/healthz`` ``/readyz`` ``/metrics`` endpoints every process exposes."""

from __future__ import annotations

import contextvars
import gc
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
# W3C trace context of the work in hand (a request's ``traceparent`` header, or the envelope of the event
# being handled), so that the events it causes carry it on and a trace can follow a share across services.
traceparent_var: contextvars.ContextVar[str] = contextvars.ContextVar("traceparent", default="")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def valid_traceparent(value: str) -> str:
    """The value if it is a well-formed W3C ``traceparent``, else empty (never trust a header blindly):
    lower-case hex, version not ff, trace id and parent id not all zeros."""
    value = value.strip()
    if not _TRACEPARENT.fullmatch(value) or value.startswith("ff"):
        return ""
    _, trace_id, parent_id, _ = value.split("-")
    return "" if trace_id == "0" * 32 or parent_id == "0" * 16 else value


def current_request_id() -> str | None:
    return request_id_var.get()


def current_traceparent() -> str:
    """The trace context that what the work in hand causes (an event it emits) continues: the current
    span's (a request's server span, an event's processing span), else the one received."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"
    return traceparent_var.get()


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        request_id = request_id_var.get()
        if request_id:
            record.request_id = request_id
        event_id = event_id_var.get()
        if event_id:
            record.event_id = event_id
        # The trace the line belongs to, so that a log store links it to the trace (and back).
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = f"{span_context.trace_id:032x}"
            record.span_id = f"{span_context.span_id:016x}"
        return True


class UtcJsonFormatter(JsonFormatter):
    """``time`` in ISO 8601, UTC, to the millisecond (``2026-12-02T05:20:02.123Z``): the format log
    stores parse without a hint, and the same in every pod whatever its time zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


def json_formatter() -> logging.Formatter:
    return UtcJsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure_logging(service: str, level: str = "INFO") -> None:
    """One JSON object a line on stdout, for every logger including uvicorn's."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # RequestContextMiddleware writes the access line (with the request id and the route template);
    # uvicorn's own would be a second, raw-path one. Processes also start with --no-access-log.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # One INFO line per outgoing call (JWKS, service to service) drowns the log; failures still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)


HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["method", "route"])
EVENTS_PUBLISHED = Counter("events_published_total", "Outbox events published to Kafka", ["topic"])
# outcome: applied, duplicate, or dead_lettered (sent to <topic>.dlt: an alert; see deploy/k8s).
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled by consumers", ["group", "outcome"])
# Set when Prometheus scrapes (condividi/service.py reads them then): the outbox's unpublished rows and
# how long the oldest has waited, each consumer's lag, and the database connection pool.
OUTBOX_BACKLOG = Gauge("outbox_unpublished_events", "Outbox events committed but not yet published")
OUTBOX_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox event (0 when none waits)"
)
CONSUMER_LAG = Gauge(
    "consumer_lag_events",
    "Events on the partition after the consumer's position (not yet read or handled)",
    ["group", "topic", "partition"],
)
DB_POOL_SIZE = Gauge("db_pool_size", "Connections the database pool keeps")
DB_POOL_CONNECTIONS = Gauge(
    "db_pool_connections", "Database connections by state (checked_out, idle, overflow)", ["state"]
)


access_log = logging.getLogger("condividi.access")
# Probes (every few seconds per pod) and scrapes would bury the requests people make: their lines
# are DEBUG, so LOG_LEVEL=DEBUG still shows them.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so that it adds little to the hot paths: sets the request id
    from ``X-Request-ID`` or a new one, echoes it back, counts the request and writes its access line.

    The access line names the route template (``/api/v1/shares/{share_id}``), never the raw path or
    the query string, and no header: ids stay out of the label set and secrets (a token, a signed
    query) out of the log. The click redirect (``/r/{code}``, a fast path of the sharing service)
    never reaches this middleware and so writes no access line; ``clicks_total`` counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        traceparents = []
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id" and request_id is None:
                request_id = value.decode("latin-1")[:128]
            elif name == b"traceparent":
                traceparents.append(value.decode("latin-1")[:128])
        # More than one traceparent header is invalid (W3C): start a trace afresh rather than guess.
        traceparent = valid_traceparent(traceparents[0]) if len(traceparents) == 1 else ""
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        trace_token = traceparent_var.set(traceparent)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route_name = _route_template(scope)
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route_name, str(status)).inc()
            HTTP_LATENCY.labels(method, route_name).observe(elapsed)
            access_log.log(
                logging.DEBUG if route_name in _QUIET_ROUTES else logging.INFO,
                "request",
                extra={
                    "method": method,
                    "route": route_name,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            request_id_var.reset(token)
            traceparent_var.reset(trace_token)


# A path no route matched (a scanner, a typo, a token pasted into a URL) and a method no route
# serves are chosen by the client: as labels, every new one would be a series kept for the life of
# the process, and in the log a secret. They are counted under one value each.
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None and isinstance(getattr(route, "path", None), str):
        return str(route.path)
    # Plain Starlette routes (the probes, /metrics, /docs) do not record themselves in the scope; a
    # fixed path of one of the app's routes is its own template.
    path = scope.get("path", "")
    router = getattr(scope.get("app"), "router", None)
    for candidate in getattr(router, "routes", ()):
        if getattr(candidate, "path", None) == path and "{" not in path:
            return str(path)
    return UNMATCHED_ROUTE


def freeze_startup_objects() -> None:
    """Moves everything alive once a process has started (modules, the app, the GraphQL schema, pools)
    out of the garbage collector's reach. Those objects live as long as the process, yet every full
    collection walked them all again; under load that walk was a large share of the gateway's CPU
    (bench/README.md). Once per process: a test session starting many apps in one process collects
    and freezes once, not at every start."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


ReadinessCheck = Callable[[], Awaitable[None]]
# Brings gauges up to date before a scrape; must not raise and should take well under a second.
MetricsRefresh = Callable[[], Awaitable[None]]


def health_routes(
    readiness_checks: dict[str, ReadinessCheck], refresh_metrics: Sequence[MetricsRefresh] = ()
) -> list[Route]:
    """``/healthz`` answers while the process runs (never touches a dependency: a database outage
    must not make Kubernetes restart every pod); ``/readyz`` checks each dependency; ``/metrics``
    refreshes the gauges read at scrape time, then answers every series."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        failures: dict[str, str] = {}
        for name, check in readiness_checks.items():
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                # The answer is public: it names the failing check only; the details go to the log.
                failures[name] = "unavailable"
                logging.getLogger(__name__).warning("readiness check failed", extra={"check": name, "error": str(exc)})
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "checks": sorted(readiness_checks)})

    async def metrics(_: Request) -> Response:
        for refresh in refresh_metrics:
            await refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, include_in_schema=False),
        Route("/readyz", readyz, include_in_schema=False),
        Route("/metrics", metrics, include_in_schema=False),
    ]

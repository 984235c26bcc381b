"""Traces (OpenTelemetry): one tracer provider per process, spans for HTTP in (FastAPI) and out (httpx),
for the database (SQLAlchemy) and for Kafka (the outbox relay's publish, a consumer's handling of an
event, continuing the W3C ``traceparent`` the envelope carries).

Spans go out over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is configured; otherwise nothing is exported. Sampling follows
the parent (a caller's ``traceparent`` flag, an event's); a trace that starts here is recorded only
while something exports it, else its spans are only pairs of ids (the trace id every log line carries,
and the context an event or an outgoing call passes on), which cost a few microseconds. The click
redirect (sharing's raw ASGI fast path) is not traced at all: it bypasses the instrumented middleware
stack.

A client span (a database statement, an outgoing call) never starts a trace: the relay polling its
outbox twice a second, or a JWKS refresh, would fill the trace store with one-span traces; inside a
request or an event they are recorded as children.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine

from condividi.settings import ServiceSettings

TRACER_NAME = "condividi"
# Probes and scrapes every few seconds per pod: no trace of them.
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$"
# A batch of events (the relay's publish, a consumer's fold of clicks) links to this many of their traces.
MAX_LINKS = 32

_propagator = TraceContextTextMapPropagator()


class _Processors(SpanProcessor):
    """The span processors in use, which can change while the process runs (the OTLP exporter when
    configured; a test's in-memory exporter)."""

    def __init__(self) -> None:
        self._processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._processors)

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = tuple(p for p in self._processors if p is not processor)
        processor.shutdown()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for processor in self._processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self._processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._processors)


class _Root(Sampler):
    """Whether a span without a parent starts a recorded trace: only while a processor takes the spans,
    and never for a lone client call (a trace starts at a request, an event or a batch)."""

    def __init__(self, processors: _Processors) -> None:
        self._processors = processors

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT or not self._processors.active:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "RootWhileExportingUnlessClient"


_processors = _Processors()
_provider: TracerProvider | None = None
_otlp: BatchSpanProcessor | None = None
_lock = threading.Lock()


def tracer_provider(service: str = "condividi") -> TracerProvider:
    """The process's provider (also OpenTelemetry's global one), made on first use and named after the
    first service that asks (a process runs one service; tests run several and share it)."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(
                resource=Resource.create({SERVICE_NAME: service}), sampler=ParentBased(root=_Root(_processors))
            )
            _provider.add_span_processor(_processors)
            trace.set_tracer_provider(_provider)
        return _provider


def otlp_traces_endpoint(settings: ServiceSettings) -> str | None:
    """Where spans go, by OpenTelemetry's own rules: the traces endpoint as given, or the base endpoint
    plus ``/v1/traces``; None when neither is configured."""
    if settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
        return settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        return settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
    return None


def configure_tracing(settings: ServiceSettings) -> TracerProvider:
    """Makes the provider and, when an OTLP endpoint is configured, exports to it in batches (once a
    process, whatever the number of apps it builds)."""
    global _otlp
    provider = tracer_provider(settings.SERVICE_NAME)
    endpoint = otlp_traces_endpoint(settings)
    with _lock:
        if endpoint is not None and _otlp is None:
            _otlp = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
            _processors.add(_otlp)
    return provider


def add_span_processor(processor: SpanProcessor) -> None:
    """Spans are recorded and handed to ``processor`` too (tests: an in-memory exporter)."""
    tracer_provider()
    _processors.add(processor)


def remove_span_processor(processor: SpanProcessor) -> None:
    _processors.remove(processor)


def flush(timeout_seconds: float = 2.0) -> None:
    """Sends what is buffered (at shutdown: the spans of the last requests). Bounded to fit in the
    shutdown budget's margin for closing the clients (tests/test_k8s_manifests.py: 3 s)."""
    _processors.force_flush(int(timeout_seconds * 1000))


def tracer() -> trace.Tracer:
    return tracer_provider().get_tracer(TRACER_NAME)


def instrument_app(app: FastAPI) -> None:
    """A server span per request (named after the route template), continuing the caller's
    ``traceparent``; none for probes and scrapes, nor for ASGI's per-message events."""
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider(), excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
    )


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """A client span per outgoing call, and the trace context in its ``traceparent`` header."""
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider())


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement (what ``SQLAlchemyInstrumentor().instrument(engine=...)`` builds, made
    here for each engine: the instrumentor is a process-wide singleton that takes one engine)."""
    meter = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy")
    usage = meter.create_up_down_counter("db.client.connections.usage", unit="connections")
    sql_tracer = tracer_provider().get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(sql_tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def context_of(traceparent: str) -> otel_context.Context | None:
    """The context to continue from a W3C ``traceparent`` (None when it is empty or malformed: the
    span then starts a trace)."""
    if not traceparent:
        return None
    extracted = _propagator.extract({"traceparent": traceparent})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def links_to(traceparents: Sequence[str]) -> list[Link]:
    links = []
    for traceparent in traceparents:
        parent = context_of(traceparent)
        if parent is not None:
            links.append(Link(trace.get_current_span(parent).get_span_context()))
            if len(links) == MAX_LINKS:
                break
    return links


@contextmanager
def consuming(group: str, topic: str, event_type: str, event_id: str, traceparent: str) -> Iterator[trace.Span]:
    """The span of one event's handling, a child of the span that emitted it (its envelope's
    ``traceparent``); the events the handler emits continue this trace."""
    with tracer().start_as_current_span(
        f"process {event_type}",
        context=context_of(traceparent),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": event_id,
        },
    ) as span:
        yield span


@contextmanager
def consuming_batch(group: str, topic: str, event_type: str, traceparents: Sequence[str]) -> Iterator[trace.Span]:
    """The span of a run of events handled together (a fold of clicks): a trace of its own, linked to
    the traces of (up to ``MAX_LINKS`` of) its events."""
    with tracer().start_as_current_span(
        f"process {event_type}",
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "messaging.batch.message_count": len(traceparents),
        },
    ) as span:
        if span.is_recording():
            for link in links_to(traceparents):
                span.add_link(link.context)
        yield span


@contextmanager
def publishing(topic: str, count: int, traceparents: Any) -> Iterator[trace.Span]:
    """The span of the relay's publish of a batch, until the brokers acknowledged it; linked to the
    traces of (up to ``MAX_LINKS`` of) its events. ``traceparents`` is called only when recording."""
    with tracer().start_as_current_span(
        f"publish {topic}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": count,
        },
    ) as span:
        if span.is_recording():
            for link in links_to(traceparents()):
                span.add_link(link.context)
        yield span

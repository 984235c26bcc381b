"""Traces and the series read at scrape time (condividi/tracing.py, condividi/service.py).

Spans are read with OpenTelemetry's in-memory exporter; the OTLP export is checked in a subprocess (the
tracer provider is once a process) against a small HTTP server that stands for the collector."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from sqlalchemy import text
from starlette.types import Receive, Scope, Send

from condividi import tracing
from condividi.consumer import EventConsumer, Subscription
from condividi.contracts.content_pb2 import ContentPublished
from condividi.db import UnitOfWork, utcnow
from condividi.events import ReceivedEvent, new_envelope, topic_of
from condividi.kafka import ensure_topics, make_producer
from condividi.observability import current_traceparent
from condividi.service import ServiceApp, ServiceRuntime, consumer_lag, create_service_app
from condividi.settings import ServiceSettings
from condividi.testing import ROOT, Infra, running

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    tracing.add_span_processor(processor)
    try:
        yield exporter
    finally:
        tracing.remove_span_processor(processor)


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging (called by create_service_app) replaces the root handler; restore it after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        yield
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


def parent_of(span: ReadableSpan) -> str | None:
    return f"{span.parent.span_id:016x}" if span.parent is not None else None


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


# --- HTTP in and out, without dependencies --------------------------------------------------------


async def click(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 302, "headers": [(b"location", b"https://acme.example")]})
    await send({"type": "http.response.body", "body": b""})


def traced_app(outgoing: httpx.AsyncClient | None = None) -> ServiceApp:
    router = APIRouter(prefix="/api/v1")

    @router.get("/things/{thing_id}", operation_id="things-get")
    async def get_thing(thing_id: uuid.UUID) -> dict[str, str]:
        logging.getLogger("services.test").info("looked up", extra={"thing": str(thing_id)})
        if outgoing is not None:
            await outgoing.get("http://policy.internal/api/v1/rules")
        return {"id": str(thing_id)}

    app = create_service_app(ServiceSettings(SERVICE_NAME="tracing-test"), title="t", description="t", routers=[router])
    app.fast_paths = (("/r/", click),)
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: these routes need neither the database nor Kafka.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_request_continues_the_callers_trace_and_its_log_lines_name_it(
    spans: InMemorySpanExporter, root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    thing = uuid.uuid4()
    async with client_of(traced_app()) as client:
        response = await client.get(f"/api/v1/things/{thing}", headers={"traceparent": CALLER})
    assert response.status_code == 200

    server = one(list(spans.get_finished_spans()), "GET /api/v1/things/{thing_id}")
    assert server.kind == SpanKind.SERVER
    assert (hex_trace(server), parent_of(server)) == (TRACE_ID, CALLER_SPAN)
    assert server.attributes is not None and server.attributes.get("http.route") == "/api/v1/things/{thing_id}"

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    looked_up = next(line for line in lines if line["message"] == "looked up")
    access = next(line for line in lines if line["logger"] == "condividi.access")
    for line in (looked_up, access):
        assert (line["trace_id"], line["span_id"]) == (TRACE_ID, hex_span(server)), line


async def test_probes_scrapes_and_the_click_fast_path_make_no_span(spans: InMemorySpanExporter) -> None:
    async with client_of(traced_app()) as client:
        assert (await client.get("/r/abc123", headers={"traceparent": CALLER})).status_code == 302
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert not spans.get_finished_spans(), [s.name for s in spans.get_finished_spans()]
        # ...while the same app traces its API (so the absence above is not a dead tracer).
        assert (await client.get(f"/api/v1/things/{uuid.uuid4()}")).status_code == 200
    assert [s.kind for s in spans.get_finished_spans()] == [SpanKind.SERVER]


async def test_an_outgoing_call_is_a_child_span_whose_context_the_callee_receives(
    spans: InMemorySpanExporter,
) -> None:
    received: list[httpx.Request] = []

    def policy(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, json=[])

    outgoing = httpx.AsyncClient(transport=httpx.MockTransport(policy))
    tracing.instrument_http_client(outgoing)
    async with outgoing, client_of(traced_app(outgoing)) as client:
        assert (await client.get(f"/api/v1/things/{uuid.uuid4()}", headers={"traceparent": CALLER})).is_success

    finished = list(spans.get_finished_spans())
    server = next(s for s in finished if s.kind == SpanKind.SERVER)
    (call,) = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert (hex_trace(call), parent_of(call)) == (TRACE_ID, hex_span(server))
    (request,) = received
    assert request.headers["traceparent"] == f"00-{TRACE_ID}-{hex_span(call)}-01"


async def test_outside_any_trace_a_client_call_starts_none(spans: InMemorySpanExporter) -> None:
    # The relay's polling, a JWKS refresh: not worth a trace of one span each.
    outgoing = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    tracing.instrument_http_client(outgoing)
    async with outgoing:
        await outgoing.get("http://identity.example/jwks")
    assert not spans.get_finished_spans()


def test_without_an_exporter_nothing_is_recorded_yet_ids_flow_and_the_callers_sampling_is_kept() -> None:
    with tracing.tracer().start_as_current_span("work") as span:
        assert not span.is_recording()
        # Not recorded, but the log lines and the events emitted here still get a trace to name.
        version, trace_id, span_id, flags = current_traceparent().split("-")
        assert version == "00" and int(trace_id, 16) and int(span_id, 16)
        assert not int(flags, 16) & 1, "the sampled flag"
    with tracing.consuming("g", "t", "Type", "e", CALLER) as span:
        # A caller that samples its trace has it continued (recorded; exported where configured).
        assert span.is_recording() and current_traceparent().startswith(f"00-{TRACE_ID}-")
        assert int(current_traceparent().rsplit("-", 1)[1], 16) & 1


def test_a_batch_links_to_the_traces_of_its_events(spans: InMemorySpanExporter) -> None:
    parents = [f"00-{n:032x}-{n:016x}-01" for n in range(1, tracing.MAX_LINKS + 10)]
    with tracing.consuming_batch("metrics.clicks", "condividi.sharing", "LinkClicked", [*parents, "garbage"]):
        pass
    (batch,) = spans.get_finished_spans()
    assert batch.kind == SpanKind.CONSUMER and batch.parent is None
    assert batch.attributes is not None and batch.attributes["messaging.batch.message_count"] == len(parents) + 1
    linked = [f"{link.context.trace_id:032x}" for link in batch.links]
    assert linked == [p.split("-")[1] for p in parents[: tracing.MAX_LINKS]]

    spans.clear()
    with tracing.publishing("condividi.sharing", 3, lambda: parents[:3]):
        pass
    (publish,) = spans.get_finished_spans()
    assert publish.kind == SpanKind.PRODUCER and len(publish.links) == 3


def test_an_unrecorded_publish_reads_no_envelope() -> None:
    def never() -> list[str]:
        raise AssertionError("the envelopes are read only for a recorded span")

    with tracing.publishing("condividi.sharing", 3, never) as span:
        assert not span.is_recording()


@pytest.mark.parametrize(
    ("endpoint", "traces_endpoint", "expected"),
    [
        ("", "", None),
        ("http://collector:4318", "", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "", "http://collector:4318/v1/traces"),
        ("http://collector:4318", "http://traces:4318/custom", "http://traces:4318/custom"),
        ("", "http://traces:4318/v1/traces", "http://traces:4318/v1/traces"),
    ],
)
def test_the_otlp_endpoint_follows_opentelemetrys_rules(endpoint: str, traces_endpoint: str, expected: str) -> None:
    settings = ServiceSettings(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=traces_endpoint)
    assert tracing.otlp_traces_endpoint(settings) == expected


EXPORTING_PROCESS = """
from condividi import tracing
from condividi.settings import ServiceSettings

tracing.configure_tracing(ServiceSettings(SERVICE_NAME="probe"))
with tracing.tracer().start_as_current_span("probe-request"):
    pass
tracing.flush()
"""


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("configured", [True, False], ids=["endpoint", "no-endpoint"])
def test_spans_go_over_otlp_only_when_an_endpoint_is_configured(
    collector: tuple[str, list[tuple[str, bytes]]], configured: bool
) -> None:
    url, received = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if configured:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
    subprocess.run([sys.executable, "-c", EXPORTING_PROCESS], cwd=ROOT, env=env, check=True, timeout=60)
    if not configured:
        assert received == []
        return
    ((path, body),) = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "probe"
    assert [s.name for scope in resource_spans.scope_spans for s in scope.spans] == ["probe-request"]


# --- Kafka and the database: a trace across the outbox, the relay and a consumer ----------------

ORG = uuid.uuid4()


def emit_published(uow: UnitOfWork, label: str) -> None:
    uow.emit(ContentPublished(content_id=label, title="t", url="https://a.example"), org_id=ORG, aggregate_id=ORG)


def settings_for(infra: Infra, database_url: str, namespace: str) -> ServiceSettings:
    return ServiceSettings(
        SERVICE_NAME="content",
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap,
        KAFKA_NAMESPACE=namespace,
        OUTBOX_POLL_SECONDS=0.1,
        KAFKA_SESSION_TIMEOUT_MS=2000,
        KAFKA_HEARTBEAT_INTERVAL_MS=500,
    )


async def eventually(check: Any, within: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (result := check()):
        assert loop.time() < deadline, "not within time"
        await asyncio.sleep(0.05)
    return result


async def test_an_event_continues_the_trace_of_the_request_that_emitted_it(
    infra: Infra, spans: InMemorySpanExporter, root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """request → (outbox) → relay's publish → consumer's handling → the event it emits → its handling:
    one trace, each handling a child of the span that emitted its event, SQL statements inside."""
    settings = settings_for(infra, infra.new_database("content"), f"trace{uuid.uuid4().hex[:8]}")
    router = APIRouter(prefix="/api/v1")

    @router.post("/emit", operation_id="emit-create")
    async def emit() -> dict[str, str]:
        async with runtime.db.unit_of_work() as uow:
            uow.emit(
                ContentPublished(content_id="first", title="t", url="https://a.example"), org_id=ORG, aggregate_id=ORG
            )
        return {}

    async def handle(uow: UnitOfWork, event: ReceivedEvent[ContentPublished]) -> None:
        logging.getLogger("services.test").info("handled", extra={"label": event.payload.content_id})
        await uow.session.execute(text("SELECT 1"))
        if event.payload.content_id == "first":
            uow.emit(
                ContentPublished(content_id="second", title="t", url="https://a.example"), org_id=ORG, aggregate_id=ORG
            )

    subscription = Subscription.of("content.trace-test", [topic_of("content")], {ContentPublished: handle})
    app = create_service_app(settings, title="t", description="t", routers=[router], subscriptions=[subscription])
    runtime: ServiceRuntime = app.state.runtime
    async with running(app) as client:
        assert (await client.post("/api/v1/emit", headers={"traceparent": CALLER})).is_success

        def handled() -> list[ReadableSpan]:
            found = [s for s in spans.get_finished_spans() if s.name.startswith("process ")]
            return found if len(found) == 2 else []

        first, second = sorted(await eventually(handled), key=lambda s: s.start_time or 0)

    finished = list(spans.get_finished_spans())
    server = one(finished, "POST /api/v1/emit")
    assert (hex_trace(server), parent_of(server)) == (TRACE_ID, CALLER_SPAN)
    # The handling of the request's event is the request's child; the next event's, the handling's.
    assert first.kind == SpanKind.CONSUMER and (hex_trace(first), parent_of(first)) == (TRACE_ID, hex_span(server))
    assert (hex_trace(second), parent_of(second)) == (TRACE_ID, hex_span(first))
    assert first.attributes is not None
    assert first.attributes["messaging.consumer.group.name"] == "content.trace-test"
    assert first.attributes["messaging.destination.name"] == settings.kafka_name(topic_of("content"))
    # The relay's publish: its own trace, linked to the traces of the events it carried.
    publishes = [s for s in finished if s.kind == SpanKind.PRODUCER]
    assert publishes and all(s.name == f"publish {settings.kafka_name(topic_of('content'))}" for s in publishes)
    linked = {(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for s in publishes for link in s.links}
    assert (TRACE_ID, hex_span(server)) in linked and (TRACE_ID, hex_span(first)) in linked
    # SQL statements: inside the request and the handling, not as traces of their own.
    statements = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert any(parent_of(s) == hex_span(server) for s in statements)
    assert any(parent_of(s) == hex_span(first) and s.name.startswith("SELECT") for s in statements)
    assert all(s.parent is not None for s in statements)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    handled_lines = [line for line in lines if line["message"] == "handled"]
    assert {(line["label"], line["trace_id"], line["span_id"]) for line in handled_lines} == {
        ("first", TRACE_ID, hex_span(first)),
        ("second", TRACE_ID, hex_span(second)),
    }


# --- series read at scrape time ---------------------------------------------------------------------


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


async def test_outbox_backlog_its_age_and_the_pool_are_read_at_scrape(infra: Infra) -> None:
    settings = settings_for(infra, infra.new_database("content"), "")
    runtime = ServiceRuntime(settings)  # not started: no relay publishes what is written below
    try:
        async with runtime.db.unit_of_work() as uow:
            for n in range(3):
                uow.emit(
                    ContentPublished(content_id=str(n), title="t", url="https://a.example"),
                    org_id=ORG,
                    aggregate_id=ORG,
                )
        async with runtime.db.engine.begin() as connection:
            await connection.execute(
                text("UPDATE outbox SET created_at = :at WHERE id = (SELECT min(id) FROM outbox)"),
                {"at": utcnow() - timedelta(seconds=90)},
            )
        await runtime.refresh_metrics()
        assert sample("outbox_unpublished_events") == 3
        age = sample("outbox_oldest_unpublished_age_seconds")
        assert age is not None and 90 <= age < 150
        assert sample("db_pool_size") == settings.DATABASE_POOL_SIZE
        assert sample("db_pool_connections", {"state": "checked_out"}) == 0

        async with runtime.db.engine.begin() as connection:
            await connection.execute(text("UPDATE outbox SET published_at = now()"))
            await runtime.refresh_metrics()  # while this connection is out of the pool
            assert sample("db_pool_connections", {"state": "checked_out"}) == 1
        await runtime.refresh_metrics()
        assert (sample("outbox_unpublished_events"), sample("outbox_oldest_unpublished_age_seconds")) == (0, 0)
    finally:
        await runtime.db.dispose()
        await runtime.http.aclose()


async def test_consumer_lag_counts_the_events_after_the_consumers_position(infra: Infra) -> None:
    settings = settings_for(infra, infra.new_database("content"), "")
    group = f"content.lag-{uuid.uuid4().hex[:8]}"
    topic = f"test.lag.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic, f"{topic}.dlt"])
    stuck = asyncio.Event()
    release = asyncio.Event()

    async def slow(uow: UnitOfWork, event: ReceivedEvent[ContentPublished]) -> None:
        stuck.set()
        await release.wait()

    runtime = ServiceRuntime(settings)
    producer: AIOKafkaProducer = make_producer(settings)
    await producer.start()
    consumer = EventConsumer(Subscription.of(group, [topic], {ContentPublished: slow}), runtime.db, producer, settings)
    runtime.consumers.append(consumer)
    stopped = False

    async def publish(count: int) -> None:
        for n in range(count):
            envelope = new_envelope(
                ContentPublished(content_id=str(n), title="t", url="https://a.example"),
                org_id=ORG,
                aggregate_id=uuid.uuid4(),
                producer="content",
            )
            await producer.send_and_wait(topic, envelope.SerializeToString(), key=envelope.aggregate_id.encode())

    async def lag() -> int:
        return sum((await consumer_lag(consumer)).values())

    try:
        await consumer.start()
        await publish(1)
        await asyncio.wait_for(stuck.wait(), 30)  # the consumer holds a batch and reads no further
        await publish(7)
        await asyncio.sleep(0.2)  # fetched in the background perhaps, but not read: still lag
        assert await lag() == 7
        await runtime.refresh_metrics()
        gauges = [
            sample("consumer_lag_events", {"group": group, "topic": topic, "partition": str(p)})
            for p in range(settings.KAFKA_TOPIC_PARTITIONS)
        ]
        assert sum(g or 0 for g in gauges) == 7, gauges
        release.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while await lag():
            assert loop.time() < deadline, "the consumer did not catch up"
            await asyncio.sleep(0.1)
        # Partitions no longer this process's (here: its consumer went) are no longer reported.
        await consumer.stop()
        stopped = True
        runtime.consumers.remove(consumer)
        await runtime.refresh_metrics()
        assert all(
            sample("consumer_lag_events", {"group": group, "topic": topic, "partition": str(p)}) is None
            for p in range(settings.KAFKA_TOPIC_PARTITIONS)
        )
    finally:
        release.set()
        if not stopped:
            await consumer.stop()
        await producer.stop()
        await runtime.db.dispose()
        await runtime.http.aclose()

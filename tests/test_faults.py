"""Fault injection on real processes: sharing, policy and metrics as uvicorn processes (built from
condividi/devstack/processes.py, as ``make run`` builds them) on a PostgreSQL server and a Tansu broker of
this module's own, so that they can be killed and restarted without touching the rest of the suite.

Each scenario counts the events it produced, the effects applied, the events lost and those applied twice
(lost and doubled must be 0), and the counts are printed at the end of the run:

- each consumer killed with SIGKILL while it works through a backlog (metrics folding clicks, policy
  deciding shares, sharing applying decisions), then started again;
- the broker stopped (SIGSTOP) for 10 s, then continued: every client times out meanwhile, shares are
  still taken and their events wait in the outbox, and afterwards every share is decided, published and
  counted. (Stopped and started again instead, the local broker would come back empty, its log being in
  memory: a fault production's Kafka does not have. Shares whose request was lost that way are asked for
  again after SHARE_POLICY_TIMEOUT_SECONDS: services/sharing/tests/test_redrive.py.)
- PostgreSQL stopped as by a crash (immediate mode) for about 5 s while events arrive, then started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision
from condividi.contracts.sharing_pb2 import LinkClicked, SharePublished, ShareRequested
from condividi.devstack import processes
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.events import new_envelope, parse_envelope, type_name
from condividi.identity import Role
from condividi.migrations import upgrade
from condividi.testing import (
    AUDIENCE,
    FAULT_REPORTS,
    TEST_ENCRYPTION_KEY,
    TEST_TUNING,
    Issuer,
    start_process,
    wait_ready,
)

RUNNING = ("sharing", "policy", "metrics")
POLICY_TIMEOUT_SECONDS = 4  # sharing asks policy again for a share pending this long
BROKER_OUTAGE_SECONDS = 10


@dataclass
class FaultStack:
    work: Path
    postgres: LocalPostgres
    kafka: LocalKafka
    kafka_port: int
    namespace: str
    issuer: Issuer
    ports: dict[str, int]
    envs: dict[str, dict[str, str]]
    database_urls: dict[str, str]
    popen: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, AsyncEngine] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        self.popen[name] = start_process(name, self.ports[name], self.envs[name], self.work / f"{name}.log")

    def wait_ready(self, *names: str) -> None:
        for name in names:
            try:
                wait_ready(self.url(name), self.popen[name], timeout=90)
            except (RuntimeError, TimeoutError) as exc:
                log = (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} did not come back: {exc}\n{log}") from exc

    def kill(self, name: str) -> None:
        """SIGKILL: no lifespan shutdown, no drain, no commit of offsets."""
        process = self.popen[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def topic(self, service: str) -> str:
        return f"{self.namespace}.condividi.{service}"

    def restart_kafka(self, outage_seconds: float) -> None:
        self.kafka.stop()
        time.sleep(outage_seconds)
        self.kafka = LocalKafka(port=self.kafka_port, log_file=self.work / "kafka.log")

    def restart_postgres(self, outage_seconds: float) -> None:
        self.postgres.crash()
        time.sleep(outage_seconds)
        self.postgres.start_again()

    async def scalar(self, service: str, sql: str, **params: Any) -> Any:
        async with self.engines[service].connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()


@pytest.fixture(scope="module")
def stack(issuer: Issuer) -> Iterator[FaultStack]:
    # Not under pytest's basetemp: a pytest run started meanwhile elsewhere on the machine prunes old
    # basetemps, and PostgreSQL restarting here must still find its data folder.
    work = Path(tempfile.mkdtemp(prefix="condividi-faults-"))
    postgres = LocalPostgres(work / "pg", ephemeral=True)
    kafka_port = free_port()
    kafka = LocalKafka(port=kafka_port, log_file=work / "kafka.log")
    namespace = f"faults-{uuid.uuid4().hex[:8]}"
    ports = {name: free_port() for name in RUNNING}
    databases = {}
    for service in RUNNING:
        postgres.create_database(f"faults_{service}")
        databases[service] = postgres.url(f"faults_{service}")
        upgrade(service, databases[service])
    wiring = processes.Wiring(
        kafka_bootstrap=kafka.bootstrap,
        oidc_issuer=issuer.issuer.issuer,
        oidc_audience=AUDIENCE,
        jwks_url=issuer.jwks_url,
        urls={name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        database_urls=databases,
        public_base_url=f"http://127.0.0.1:{ports['sharing']}",
        click_hash_salt=uuid.uuid4().hex,
        secret_encryption_key=TEST_ENCRYPTION_KEY,
        kafka_namespace=namespace,
    )
    envs = {name: {**TEST_TUNING, **processes.environment(name, wiring)} for name in RUNNING}
    envs["sharing"].update(
        {"SHARE_POLICY_TIMEOUT_SECONDS": str(POLICY_TIMEOUT_SECONDS), "SHARE_REDRIVE_INTERVAL_SECONDS": "1"}
    )
    for env in envs.values():
        env["LOG_LEVEL"] = "WARNING"  # thousands of events: keep the logs small
    faults = FaultStack(work, postgres, kafka, kafka_port, namespace, issuer, ports, envs, databases)
    try:
        for name in RUNNING:
            faults.start(name)
        faults.wait_ready(*RUNNING)
        yield faults
    finally:
        for name, process in faults.popen.items():
            if process.poll() is None:
                faults.kill(name)  # thrown away with its databases: no need to wait for a drain
        faults.kafka.stop()
        with contextlib.suppress(Exception):
            postgres.crash()  # its data is thrown away: no need for a shutdown checkpoint
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
async def engines(stack: FaultStack) -> AsyncIterator[None]:
    # NullPool: a connection never outlives its query, so a PostgreSQL restart leaves no stale one.
    stack.engines = {s: create_async_engine(url, poolclass=NullPool) for s, url in stack.database_urls.items()}
    try:
        yield
    finally:
        for engine in stack.engines.values():
            await engine.dispose()


async def produce(stack: FaultStack, service: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                stack.topic(service),
                value=e.SerializeToString(),
                key=e.aggregate_id.encode(),
                headers=[("event_id", e.event_id.encode()), ("type", e.type.encode())],
            )
            for e in envelopes
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def envelope(payload: Message, org: uuid.UUID, aggregate: uuid.UUID | str, producer: str) -> Envelope:
    return new_envelope(payload, org_id=org, aggregate_id=aggregate, producer=producer)


async def events_on(stack: FaultStack, service: str, kind: type[Message], org: uuid.UUID) -> dict[str, set[str]]:
    """Aggregate id -> the distinct event ids of type ``kind`` for ``org`` on a service's topic, read from
    the start until a second passes with nothing new."""
    reader = AIOKafkaConsumer(
        stack.topic(service), bootstrap_servers=stack.kafka.bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await reader.start()
    found: dict[str, set[str]] = {}
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 1.0:
            batch = await reader.getmany(timeout_ms=200)
            records = [r for partition in batch.values() for r in partition]
            if records:
                quiet_since = time.monotonic()
            for record in records:
                event = parse_envelope(record.value or b"")
                if event.type == type_name(kind) and event.org_id == str(org):
                    found.setdefault(event.aggregate_id, set()).add(event.event_id)
    finally:
        await reader.stop()
    return found


async def settle(read: Callable[[], Awaitable[int]], target: int, within: float = 60.0) -> int:
    """Polls a count until it reaches ``target`` (or time runs out), then once more a second later, so
    that an effect applied twice has time to show."""
    deadline = time.monotonic() + within
    value = await read()
    while value < target and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        value = await read()
    await asyncio.sleep(1.0)
    return int(await read())


async def kill_mid_stream(
    stack: FaultStack,
    name: str,
    progress: Callable[[], Awaitable[int]],
    to: str,
    envelopes: list[Envelope],
    chunk: int,
) -> int:
    """Sends ``envelopes`` to service ``to``'s topic ``chunk`` at a time, as a stream rather than one
    backlog (which a consumer might take in a single batch, the kill then landing after it), and kills
    ``name`` once it has applied some and not all; returns how far it got."""

    async def stream() -> None:
        for start in range(0, len(envelopes), chunk):
            await produce(stack, to, envelopes[start : start + chunk])
            await asyncio.sleep(0.1)

    producing = asyncio.create_task(stream())
    try:
        deadline = time.monotonic() + 30
        while (done := await progress()) == 0:
            assert time.monotonic() < deadline, f"{name} applied nothing"
            await asyncio.sleep(0.01)
        stack.kill(name)
    finally:
        await producing
    assert done < len(envelopes), f"{name} finished the stream ({done}) before it could be killed"
    return int(done)


def report(scenario: str, produced: int, applied: int, lost: int, doubled: int) -> None:
    FAULT_REPORTS.append(
        {"scenario": scenario, "produced": produced, "applied": applied, "lost": lost, "doubled": doubled}
    )
    assert (lost, doubled) == (0, 0), FAULT_REPORTS[-1]
    assert applied == produced, FAULT_REPORTS[-1]


async def test_metrics_killed_while_folding_clicks_loses_and_doubles_none(stack: FaultStack, engines: None) -> None:
    org, content, clicks = uuid.uuid4(), uuid.uuid4(), 6_000

    async def folded() -> int:
        sql = "SELECT coalesce(sum(clicks), 0) FROM content_rollups WHERE org_id = :org AND content_id = :content"
        return int(await stack.scalar("metrics", sql, org=org, content=content))

    code = "faultsab"
    clicked = [
        envelope(LinkClicked(tracking_code=code, content_id=str(content), visitor_hash=f"v{n}"), org, code, "sharing")
        for n in range(clicks)
    ]
    await kill_mid_stream(stack, "metrics", folded, "sharing", clicked, chunk=1_000)
    stack.start("metrics")
    stack.wait_ready("metrics")
    applied = await settle(folded, clicks)
    report(
        "metrics killed (-9) mid-batch: clicks folded",
        clicks,
        applied,
        max(0, clicks - applied),
        max(0, applied - clicks),
    )


async def test_policy_killed_while_deciding_loses_and_doubles_none(stack: FaultStack, engines: None) -> None:
    org, shares = uuid.uuid4(), 1_200
    ids = [uuid.uuid4() for _ in range(shares)]

    async def decided() -> int:
        return int(await stack.scalar("policy", "SELECT count(*) FROM share_decisions WHERE org_id = :org", org=org))

    requested = [
        envelope(
            ShareRequested(share_id=str(i), member_id="m", content_id=str(uuid.uuid4()), network="x", text="Mine"),
            org,
            i,
            "sharing",
        )
        for i in ids
    ]
    await kill_mid_stream(stack, "policy", decided, "sharing", requested, chunk=200)
    stack.start("policy")
    stack.wait_ready("policy")
    applied = await settle(decided, shares)
    announced = await events_on(stack, "policy", ShareDecision, org)
    doubled = sum(len(e) - 1 for e in announced.values())
    lost = shares - len(announced)
    report("policy killed (-9) mid-batch: shares decided and announced", shares, applied, lost, doubled)


async def insert_pending_shares(stack: FaultStack, org: uuid.UUID, content: uuid.UUID, count: int) -> list[str]:
    """Shares waiting for policy, written straight into sharing's table (their requests are not the
    subject here: the test sends the decisions itself)."""
    async with stack.engines["sharing"].begin() as connection:
        rows = await connection.execute(
            text(
                "INSERT INTO shares (id, org_id, member_id, content_id, network, text, status, violations, "
                "tracking_code, potential_reach, created_at, updated_at) "
                "SELECT gen_random_uuid(), :org, 'member-' || n, :content, 'x', 'My words', 'pending_policy', "
                "'[]'::jsonb, substr(md5(random()::text), 1, 16), 10, now(), now() + interval '1 hour' "
                "FROM generate_series(1, :count) AS n RETURNING id"
            ),
            {"org": org, "content": content, "count": count},
        )
        return [str(r) for r in rows.scalars()]


async def test_sharing_killed_while_applying_decisions_loses_and_doubles_none(stack: FaultStack, engines: None) -> None:
    org, content, count = uuid.uuid4(), uuid.uuid4(), 600
    # updated_at an hour ahead: the re-drive leaves these shares alone during the test
    ids = await insert_pending_shares(stack, org, content, count)

    async def published() -> int:
        sql = "SELECT count(*) FROM shares WHERE org_id = :org AND status = 'published'"
        return int(await stack.scalar("sharing", sql, org=org))

    approve = DecisionOutcome.DECISION_OUTCOME_APPROVED
    decisions = [envelope(ShareDecision(share_id=i, outcome=approve), org, i, "policy") for i in ids]

    # Decisions come as policy makes them, a hundred at a time.
    await kill_mid_stream(stack, "sharing", published, "policy", decisions, chunk=100)
    stack.start("sharing")
    stack.wait_ready("sharing")
    applied = await settle(published, count)
    announced = await events_on(stack, "sharing", SharePublished, org)
    doubled = sum(len(e) - 1 for e in announced.values())
    report("sharing killed (-9) mid-batch: decisions applied", count, applied, count - len(announced), doubled)


async def create_shares(stack: FaultStack, org: uuid.UUID, content: uuid.UUID, members: list[str]) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=stack.url("sharing"), timeout=15) as client:
        for member in members:
            answer = await client.post(
                "/api/v1/shares",
                json={"content_id": str(content), "network": "linkedin", "text": "In my own words"},
                headers=stack.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=member),
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
    return ids


async def test_broker_stopped_for_a_while_loses_nothing(stack: FaultStack, engines: None) -> None:
    org, content = uuid.uuid4(), uuid.uuid4()
    catalog = ContentPublished(content_id=str(content), title="News", url="https://acme.example/news")
    await produce(stack, "content", [envelope(catalog, org, content, "content")])

    async def known() -> int:
        sql = "SELECT count(*) FROM content_catalog WHERE content_id = :content"
        return int(await stack.scalar("sharing", sql, content=content))

    assert await settle(known, 1, within=20) == 1

    async def published() -> int:
        sql = "SELECT count(*) FROM shares WHERE org_id = :org AND status = 'published'"
        return int(await stack.scalar("sharing", sql, org=org))

    async def counted() -> int:
        return int(
            await stack.scalar(
                "metrics", "SELECT coalesce(sum(shares), 0) FROM content_rollups WHERE org_id = :org", org=org
            )
        )

    # SIGSTOP: the broker neither answers nor closes a connection, as a broker that hangs or a
    # partitioned network; every client (relays, consumers, their heartbeats) times out meanwhile.
    stack.kafka.process.send_signal(signal.SIGSTOP)
    try:
        # Shares are still taken: their requests wait in the outbox.
        ids = await create_shares(stack, org, content, [f"member-{n}" for n in range(30)])
        await asyncio.sleep(BROKER_OUTAGE_SECONDS)
    finally:
        stack.kafka.process.send_signal(signal.SIGCONT)
    total = len(ids)
    applied = await settle(published, total, within=60)
    report(
        f"broker stopped {BROKER_OUTAGE_SECONDS}s: shares requested, decided, published",
        total,
        applied,
        total - applied,
        max(0, applied - total),
    )
    in_metrics = await settle(counted, total, within=30)
    report(
        f"broker stopped {BROKER_OUTAGE_SECONDS}s: shares counted by metrics",
        total,
        in_metrics,
        total - in_metrics,
        max(0, in_metrics - total),
    )


async def test_postgres_restarted_loses_nothing(stack: FaultStack, engines: None) -> None:
    org, content, clicks, shares = uuid.uuid4(), uuid.uuid4(), 2_000, 500
    ids = [uuid.uuid4() for _ in range(shares)]

    async def folded() -> int:
        sql = "SELECT coalesce(sum(clicks), 0) FROM content_rollups WHERE org_id = :org AND content_id = :content"
        return int(await stack.scalar("metrics", sql, org=org, content=content))

    async def decided() -> int:
        return int(await stack.scalar("policy", "SELECT count(*) FROM share_decisions WHERE org_id = :org", org=org))

    stop = asyncio.get_running_loop().run_in_executor(None, stack.restart_postgres, 5.0)
    await asyncio.sleep(0.5)
    # Arriving while the database is down: the consumers must keep them until it is back.
    code = "faultspg"
    await produce(
        stack,
        "sharing",
        [
            *(
                envelope(
                    LinkClicked(tracking_code=code, content_id=str(content), visitor_hash=f"v{n}"), org, code, "sharing"
                )
                for n in range(clicks)
            ),
            *(
                envelope(
                    ShareRequested(share_id=str(i), member_id="m", content_id=str(content), network="x", text="Mine"),
                    org,
                    i,
                    "sharing",
                )
                for i in ids
            ),
        ],
    )
    await stop
    stack.wait_ready(*RUNNING)
    applied = await settle(folded, clicks)
    report(
        "PostgreSQL stopped (crash) ~5s: clicks folded",
        clicks,
        applied,
        max(0, clicks - applied),
        max(0, applied - clicks),
    )
    applied = await settle(decided, shares)
    announced = await events_on(stack, "policy", ShareDecision, org)
    doubled = sum(len(e) - 1 for e in announced.values())
    report("PostgreSQL stopped (crash) ~5s: shares decided", shares, applied, shares - len(announced), doubled)

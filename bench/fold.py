"""Benchmark of the event pipeline's far end: metrics folding clicks, against a bare aiokafka consumer
reading the same topic (the budget: at least 0.5x).

Each round produces a backlog of ``LinkClicked`` events (500,000 by default; ``--quick``: 100,000) to a
topic of its own, built as sharing's click shipper builds them (from spool frames, one envelope each,
keyed by share; event ids drawn as four sharing processes' spools draw them, interleaved), spread over
1,000 links of 200 items, every click from a new visitor, so each one also writes a unique visit). Then:

- raw: an ``AIOKafkaConsumer`` configured as the services' consumers are (``condividi.kafka``) reads the
  topic from the first event to the last; its rate is events / (time of the last - time of the first);
- fold: the metrics service (a uvicorn process, on a fresh database) folds the same backlog; its rate is
  measured the same way, from the first click counted in its rollups to the last, by polling them.

Prints one JSON line and appends it to ``bench/results/fold.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.producer.message_accumulator import BatchBuilder

from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.devstack import processes
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.migrations import upgrade
from condividi.outbox import _partition_index
from services.sharing.spool import EventIds, envelope_of, frame, link_prefix

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fold.jsonl"
BUDGET = 0.5
PARTITIONS = 3  # the services' default (KAFKA_TOPIC_PARTITIONS)
SHARING_PROCESSES = 4
FRAME_HEAD = 8  # a spool frame's length and checksum, before the body the shipper reads


async def produce_backlog(bootstrap: str, topic: str, count: int) -> None:
    org = uuid.uuid4()
    contents = [uuid.uuid4() for _ in range(200)]
    links = [(f"code{n:04d}", uuid.uuid4(), contents[n % len(contents)]) for n in range(1000)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        finally:
            await admin.close()
        partitions = sorted(await producer.partitions_for(topic) or [])
        batches: dict[int, BatchBuilder] = {}
        pending: list[asyncio.Future[Any]] = []
        # Four sharing processes' spools, their clicks interleaved, each id drawn as the spool draws it.
        spools = [EventIds() for _ in range(SHARING_PROCESSES)]
        prefixes = [
            link_prefix(
                org,
                LinkClicked(
                    tracking_code=code,
                    share_id=str(share),
                    content_id=str(content),
                    member_id="emp-1",
                    network="linkedin",
                ),
            )
            for code, share, content in links
        ]
        started = time.time_ns()
        for n in range(count):
            body = frame(started + n * 1000, spools[n % len(spools)].next(), os.urandom(16), prefixes[n % len(links)])
            click = envelope_of(body[FRAME_HEAD:])
            key, value = click.share_id.encode(), click.envelope
            headers = [("event_id", str(click.event_id).encode()), ("type", b"condividi.sharing.v1.LinkClicked")]
            partition = partitions[_partition_index(key, len(partitions))]
            batch = batches.get(partition)
            if batch is None or batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                if batch is not None:
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            if len(pending) > 50:
                await asyncio.gather(*pending)
                pending.clear()
        for partition, batch in batches.items():
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_rate(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """Events per second a bare consumer reads, from its first record to its last, and the CPU time
    per event it took (this process's, which does nothing else meanwhile), in µs."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        seen, first_batch, first, last, cpu_first, cpu_last = 0, 0, 0.0, 0.0, 0.0, 0.0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000)
            got = sum(len(records) for records in batch.values())
            if got and not first:
                # The clock starts with the first batch in hand: its events are not counted, as the
                # fold's first observed count is not.
                first, first_batch, cpu_first = time.perf_counter(), got, time.process_time()
            seen += got
            last, cpu_last = time.perf_counter(), time.process_time()
        return (seen - first_batch) / (last - first), (cpu_last - cpu_first) / (seen - first_batch) * 1e6
    finally:
        await consumer.stop()


async def folded(database_url: str) -> int:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await connection.fetchval("SELECT coalesce(sum(clicks), 0) FROM content_rollups"))
    finally:
        await connection.close()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    used = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used += times.user + times.system
    return used


def postgres_processes(postgres: LocalPostgres) -> list[psutil.Process]:
    """The postmaster and its backends (each connection is a process of its own)."""
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.name() == "postgres" and str(postgres.server.pgdata) in " ".join(process.cmdline()):
                return [process, *process.children()]
    return []


@dataclass
class Fold:
    rate: float
    metrics_cpu_us: float  # per event
    postgres_cpu_us: float  # per event


async def fold_rate(database_url: str, count: int, log: Path, metrics: psutil.Process, postgres: LocalPostgres) -> Fold:
    """Events per second metrics folds, from the first click counted to the last (polled), and the CPU
    time per event metrics and PostgreSQL took meanwhile."""
    first_count, first, last = 0, 0.0, 0.0
    cpu_first: tuple[float, float] = (0.0, 0.0)
    cpu_last: tuple[float, float] = (0.0, 0.0)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        counted = await folded(database_url)
        now = time.perf_counter()
        cpu_now = (cpu_seconds([metrics]), cpu_seconds(postgres_processes(postgres)))
        if counted and not first:
            first_count, first, cpu_first = counted, now, cpu_now
        if counted >= count:
            last, cpu_last = now, cpu_now
            break
        await asyncio.sleep(0.1)
    else:
        raise TimeoutError(f"metrics folded {counted} of {count} clicks; see {log}")
    events = count - first_count
    return Fold(
        events / (last - first),
        (cpu_last[0] - cpu_first[0]) / events * 1e6,
        (cpu_last[1] - cpu_first[1]) / events * 1e6,
    )


def one_round(
    postgres: LocalPostgres, kafka: LocalKafka, work: Path, count: int, index: int, profile: Path | None
) -> tuple[float, float, Fold]:
    namespace = f"fold-{uuid.uuid4().hex[:6]}"
    topic = f"{namespace}.condividi.sharing"
    database = f"metrics_fold_{index}_{uuid.uuid4().hex[:6]}"
    postgres.create_database(database)
    url = postgres.url(database)
    upgrade("metrics", url)
    asyncio.run(produce_backlog(kafka.bootstrap, topic, count))
    raw, raw_cpu = asyncio.run(raw_rate(kafka.bootstrap, topic, count))
    log = work / f"metrics-{index}.log"
    process = subprocess.Popen(
        # Run as the stack runs it (condividi/devstack/processes.py), alone: no issuer, no other process.
        processes.uvicorn_command("metrics", free_port()),
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in processes.keys_set_per_process()},
            "SERVICE_NAME": "metrics",
            "DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_NAMESPACE": namespace,
            "LOG_LEVEL": "WARNING",
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    spy = None
    if profile is not None:
        # Sampling from its start: the backlog is there already, so the fold begins with the consumer.
        profile.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(process.pid)),
                *("--format", "raw", "--rate", "200", "--output", str(profile / f"fold-{index}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        fold = asyncio.run(fold_rate(url, count, log, psutil.Process(process.pid), postgres))
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return raw, raw_cpu, fold


def commit() -> str:
    """The commit measured (with "+changes" when the work tree differs from it)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a backlog of 100,000 events, one round")
    parser.add_argument("--events", type=int, help="backlog per round (default 500,000; --quick 100,000)")
    parser.add_argument("--rounds", type=int, help="rounds, each on a new backlog (default 3; --quick 1)")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's samples of metrics (raw format)")
    options = parser.parse_args()
    count = options.events or (100_000 if options.quick else 500_000)
    rounds = options.rounds or (1 if options.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="condividi-fold-"))
    postgres = LocalPostgres(work / "pg", ephemeral=True)
    kafka = LocalKafka(log_file=work / "kafka.log")
    try:
        figures = [one_round(postgres, kafka, work, count, n, options.profile) for n in range(rounds)]
    finally:
        kafka.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    raws = [raw for raw, _, _ in figures]
    folds = [fold.rate for _, _, fold in figures]
    ratios = [fold.rate / raw for raw, _, fold in figures]
    raw_cpu = statistics.median(cpu for _, cpu, _ in figures)
    metrics_cpu = statistics.median(fold.metrics_cpu_us for _, _, fold in figures)
    result = {
        "benchmark": "fold",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "commit": commit(),
        "events_per_round": count,
        "rounds": rounds,
        "raw_consume_eps": round(statistics.median(raws)),
        "fold_eps": round(statistics.median(folds)),
        "figure": f"metrics folding clicks vs a bare consumer reading them ({count:,} events a round)",
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        # CPU time per event, less disturbed by the machine's other work than the rates: the bare
        # consumer's, metrics' and PostgreSQL's while metrics folds; cpu_ratio compares the first two.
        "raw_cpu_us_per_event": round(raw_cpu, 2),
        "metrics_cpu_us_per_event": round(metrics_cpu, 2),
        "postgres_cpu_us_per_event": round(statistics.median(fold.postgres_cpu_us for _, _, fold in figures), 2),
        "cpu_ratio": round(raw_cpu / metrics_cpu, 3) if metrics_cpu else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "budget": BUDGET,
        "passed": statistics.median(ratios) >= BUDGET,
    }
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

"""Clicks and crashes: sharing (and its click shipper with it, as when a pod dies) killed with SIGKILL
under click load, then started again. Every click whose redirect was answered is counted by metrics, and
none twice: the click is on file before its redirect is sent, and a click published again after the
restart carries the event id it was spooled with, which metrics' inbox recognises."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from condividi.db import utcnow
from condividi.devstack.infra import free_port
from condividi.events import parse_envelope
from condividi.testing import Infra, Issuer, running, service_env, start_process, stop_process, wait_ready
from services.metrics.main import build_app as build_metrics
from services.metrics.settings import MetricsSettings
from services.sharing.models import CatalogItem, Share, ShareStatus
from services.sharing.spool import segments

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


async def published_link(database_url: str, org: uuid.UUID, content: uuid.UUID) -> str:
    engine = create_async_engine(database_url)
    code = "crash" + uuid.uuid4().hex[:8]
    now = utcnow()
    try:
        async with AsyncSession(engine) as session:
            session.add(
                CatalogItem(content_id=content, org_id=org, title="t", url="https://acme.example/", published_at=now)
            )
            session.add(
                Share(
                    org_id=org,
                    member_id="emp-1",
                    content_id=content,
                    network="x",
                    text="hello",
                    status=ShareStatus.PUBLISHED,
                    tracking_code=code,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.commit()
    finally:
        await engine.dispose()
    return code


async def click_until(port: int, path: str, stop: asyncio.Event, answered: list[int]) -> None:
    """One keep-alive connection asking for the link again and again; counts the 302s it receives.
    Raw HTTP/1.1 rather than an HTTP client: the load should cost the test little."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER}\r\n\r\n".encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        try:
            while not stop.is_set():
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")  # the redirect has no body
                if head.startswith(b"HTTP/1.1 302"):
                    answered[0] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def distinct_click_ids(bootstrap: str, topic: str) -> tuple[int, int]:
    """(events on the topic, distinct event ids among them)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    ids: list[str] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            ids.extend(parse_envelope(r.value or b"").event_id for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return len(ids), len(set(ids))


async def folded(database_url: str, content: uuid.UUID) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT clicks FROM content_rollups WHERE content_id = :c"), {"c": content}
            )
    finally:
        await engine.dispose()
    return int(found or 0)


async def test_no_click_is_lost_or_counted_twice_when_sharing_is_killed_under_load(
    infra: Infra, issuer: Issuer, tmp_path: Path
) -> None:
    namespace = f"crash-{uuid.uuid4().hex[:8]}"
    org, content = uuid.uuid4(), uuid.uuid4()
    sharing_db = infra.new_database("sharing")
    metrics_env = service_env(infra, issuer, "metrics", infra.new_database("metrics"), kafka_namespace=namespace)
    port = free_port()
    env = {
        **service_env(infra, issuer, "sharing", sharing_db, kafka_namespace=namespace),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CLICK_HASH_SALT": uuid.uuid4().hex,
        "CLICK_SPOOL_DIR": str(tmp_path / "clicks"),
        "CLICK_REPEAT_WINDOW_SECONDS": "0",
        "CLICK_RATE_PER_VISITOR_PER_MINUTE": "0",
        "CLICK_RATE_PER_LINK_PER_MINUTE": "0",
    }
    code = await published_link(sharing_db, org, content)
    metrics = build_metrics(MetricsSettings(**metrics_env))  # type: ignore[arg-type]
    sharing = start_process("sharing", port, env, tmp_path / "sharing.log")
    try:
        async with running(metrics):
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", sharing)
            answered, stop = [0], asyncio.Event()
            load = [asyncio.create_task(click_until(port, f"/r/{code}", stop, answered)) for _ in range(16)]
            for _ in range(100):  # until some 3,000 clicks were answered, 5 s at most
                if answered[0] >= 3000:
                    break
                await asyncio.sleep(0.05)
            # The pod dies: sharing and its shipper (same process group) at once, clicks in flight.
            os.killpg(sharing.pid, signal.SIGKILL)
            sharing.wait()
            stop.set()
            await asyncio.gather(*load)
            before_restart = answered[0]
            assert before_restart > 100, "the load did not get going"
            sharing = start_process("sharing", port, env, tmp_path / "sharing.log")
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", sharing)
            deadline = time.monotonic() + 60
            while any(segments(tmp_path / "clicks")) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if all(p.suffix == ".open" and p.stat().st_size == 0 for p in segments(tmp_path / "clicks")):
                    break
            topic = f"{namespace}.condividi.sharing"
            published, distinct = await distinct_click_ids(infra.kafka_bootstrap, topic)
            for _ in range(150):
                if await folded(metrics_env["DATABASE_URL"], content) >= distinct:
                    break
                await asyncio.sleep(0.2)
            counted = await folded(metrics_env["DATABASE_URL"], content)
        print(f"answered {before_restart}, published {published}, distinct {distinct}, counted {counted}")
        assert distinct >= before_restart, f"{before_restart - distinct} answered clicks lost"
        assert counted == distinct, f"metrics counted {counted} for {distinct} distinct clicks ({published} sent)"
    finally:
        if sharing.poll() is None:
            stop_process(sharing)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sharing.pid, signal.SIGKILL)  # a shipper left behind

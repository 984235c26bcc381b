"""The click shipper: publishes the clicks of the spool (``services/sharing/spool.py``) to sharing's
topic, and deletes what the broker has acknowledged. ``python -m services.sharing.shipper``.

It runs beside sharing (a child of the sharing process by default, a sidecar container on Kubernetes),
so that building envelopes and talking to Kafka cost the redirect's process nothing. Progress is kept per
segment in ``<segment>.shipped``, written only after the broker acknowledged everything before it: when
the broker is down the shipper retries and the spool grows on disk, losing nothing; when the shipper is
killed, the frames after its last mark are sent again with the same event ids, and the consumers' inboxes
drop the repeats. A lock on the directory keeps a second shipper from running beside the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from pydantic import SecretStr

from condividi.events import topic_of
from condividi.kafka import connection_options
from condividi.observability import EVENTS_PUBLISHED, configure_logging
from condividi.outbox import _partition_index
from services.sharing.settings import SharingSettings
from services.sharing.spool import SEALED, envelope_of, read_frames, record_shipped, segments, shipped_offset

log = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024  # per read of a segment: some 10,000 clicks


class ClickShipper:
    def __init__(self, settings: SharingSettings) -> None:
        self.settings = settings
        self.directory = Path(settings.CLICK_SPOOL_DIR)
        self.topic = settings.kafka_name(topic_of("sharing"))
        self._producer: AIOKafkaProducer | None = None
        self._partitions: list[int] = []
        self.stopping = asyncio.Event()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **connection_options(self.settings),
                client_id="sharing-clicks",
                acks="all",
                linger_ms=2,
                request_timeout_ms=self.settings.CLICK_SHIPPER_REQUEST_TIMEOUT_MS,
            )
            try:
                await producer.start()
                self._partitions = sorted(await producer.partitions_for(self.topic) or [])
                if not self._partitions:
                    raise RuntimeError(f"topic {self.topic} has no partitions yet")
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _disconnect(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def ship_once(self) -> int:
        """Publishes what the spool holds past the marks (up to READ_BYTES a segment); returns how many
        clicks went out. Raises when the broker does not acknowledge: nothing is marked then."""
        sent = 0
        for segment in list(segments(self.directory)):
            sealed = segment.suffix == SEALED
            offset = shipped_offset(segment)
            try:
                with segment.open("rb") as file:
                    file.seek(offset)
                    data = file.read(READ_BYTES)
            except FileNotFoundError:
                # Renamed from .open to .sealed under us: read it under its new name next time.
                continue
            bodies, used = read_frames(data, sealed=sealed)
            if bodies:
                await self._publish(bodies)
                sent += len(bodies)
            if sealed and (len(data) < READ_BYTES or (not bodies and used == 0 and data)):
                # All of it is on the broker (or the rest is a torn tail): the segment is done.
                segment.unlink()
                segment.with_suffix(".shipped").unlink(missing_ok=True)
            elif used:
                record_shipped(segment, offset + used)
        return sent

    async def _publish(self, bodies: list[bytes]) -> None:
        producer = await self._connect()
        batches: dict[int, BatchBuilder] = {}
        deliveries: list[asyncio.Future[Any]] = []
        for body in bodies:
            click = envelope_of(body)
            key = click.share_id.encode()
            partition = self._partitions[_partition_index(key, len(self._partitions))]
            headers = [("event_id", str(click.event_id).encode()), ("type", b"condividi.sharing.v1.LinkClicked")]
            batch = batches.get(partition)
            if batch is None or batch.append(key=key, value=click.envelope, timestamp=None, headers=headers) is None:
                if batch is not None:
                    deliveries.append(await producer.send_batch(batch, self.topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=click.envelope, timestamp=None, headers=headers)
        for partition, batch in batches.items():
            deliveries.append(await producer.send_batch(batch, self.topic, partition=partition))
        # Every delivery awaited (none left with an unread error), then the first failure raised: the
        # caller marks nothing and sends the lot again.
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        EVENTS_PUBLISHED.labels(self.topic).inc(len(bodies))

    async def run(self, *, drain_seconds: float) -> None:
        """Ships until told to stop; then ships what is left for up to ``drain_seconds``."""
        backoff = 0.2
        while not self.stopping.is_set():
            try:
                sent = await self.ship_once()
                backoff = 0.2
            except Exception as exc:  # noqa: BLE001 - the broker is away: keep the spool, try again
                log.warning("clicks could not be published; retrying", extra={"error": repr(exc)})
                await self._disconnect()
                sent = 0
                await self._wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not sent:
                await self._wait(self.settings.CLICK_SHIPPER_POLL_SECONDS)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                # Until nothing is left but the writer's open segment, shipped to its end.
                while True:
                    try:
                        sent = await self.ship_once()
                    except Exception:  # noqa: BLE001
                        await self._disconnect()
                        await asyncio.sleep(0.5)
                        continue
                    if not sent and not any(s.suffix == SEALED for s in segments(self.directory)):
                        break
        await self._disconnect()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


def _death_signal() -> Callable[[], None] | None:
    """Linux: makes the child get SIGTERM when sharing dies, even by SIGKILL (it then drains what it
    can; the next sharing starts a new one, which resumes from the marks). libc is loaded here, in the
    parent: the forked child only makes the call."""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _child_env(settings: SharingSettings) -> dict[str, str]:
    """The settings the shipper needs, as sharing has them (they may not come from the environment)."""
    env = dict(os.environ)
    for name, value in settings:
        if not (name.startswith(("KAFKA_", "CLICK_")) or name in ("SERVICE_NAME", "LOG_LEVEL", "ENVIRONMENT")):
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def start_child_shipper(settings: SharingSettings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.sharing.shipper"],
        env=_child_env(settings),
        preexec_fn=_death_signal(),
    )


async def stop_child_shipper(child: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """Asks the shipper to publish what is left, then waits up to ``grace_seconds`` for it."""
    if child.poll() is None:
        child.terminate()
    try:
        await asyncio.to_thread(child.wait, grace_seconds)
    except subprocess.TimeoutExpired:
        log.warning("click shipper did not finish in time; the rest is shipped at the next start")
        child.kill()
        await asyncio.to_thread(child.wait)


def lock_directory(directory: Path) -> int:
    """Holds the directory's lock for the life of the process (one shipper per spool)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "shipper.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def main() -> None:
    settings = SharingSettings()
    configure_logging("sharing-clicks", settings.LOG_LEVEL)
    if not settings.CLICK_SPOOL_DIR:
        raise SystemExit("CLICK_SPOOL_DIR names the spool to ship")
    if settings.CLICK_SHIPPER_NICE:
        os.nice(settings.CLICK_SHIPPER_NICE)
    shipper = ClickShipper(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shipper.stopping.set)
    lock = await asyncio.to_thread(lock_directory, shipper.directory)
    log.info("click shipper started", extra={"spool": str(shipper.directory)})
    try:
        await shipper.run(drain_seconds=settings.CLICK_DRAIN_SECONDS)
    finally:
        os.close(lock)
    log.info("click shipper stopped")


if __name__ == "__main__":
    asyncio.run(main())

"""The click spool and its shipper: frames read back as they were written, a torn tail is never
published, and clicks spooled while the broker is away all reach it once it is back."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.devstack.infra import LocalKafka
from condividi.events import open_envelope, parse_envelope
from condividi.kafka import ensure_topics
from services.sharing.links import LinkTarget
from services.sharing.settings import SharingSettings
from services.sharing.shipper import ClickShipper
from services.sharing.spool import SEALED, ClickSpool, envelope_of, frame, read_frames, segments


def target() -> LinkTarget:
    return LinkTarget(
        share_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        content_id=uuid.uuid4(),
        member_id="emp-1",
        network="x",
        location=b"https://acme.example/",
        tracking_code="abcdefgh",
    )


def test_a_frame_reads_back_as_the_click_it_was() -> None:
    link = target()
    visitor = bytes(range(16))
    event_id = os.urandom(16)
    body = read_frames(frame(1_700_000_000_123_456_789, event_id, visitor, link.spool_prefix), sealed=False)[0][0]
    click = envelope_of(body)
    event = open_envelope(parse_envelope(click.envelope), LinkClicked)
    assert event.payload == link.click(visitor.hex())
    assert event.event_id == click.event_id == uuid.UUID(bytes=event_id, version=4)
    assert event.org_id == link.org_id and event.aggregate_id == str(link.share_id) == click.share_id
    assert event.occurred_at.microsecond == 123456 and int(event.occurred_at.timestamp()) == 1_700_000_000
    assert envelope_of(body).envelope == click.envelope  # read twice, the same event (same id)


@pytest.mark.parametrize("at_ns", [1_700_000_000_123_456_789, 1_700_000_000_000_000_000, 123, 2**62])
def test_the_envelope_put_together_from_parts_is_what_protobuf_serialises(at_ns: int) -> None:
    for link in (target(), target()):
        visitor, event_id = os.urandom(16), os.urandom(16)
        click = envelope_of(read_frames(frame(at_ns, event_id, visitor, link.spool_prefix), sealed=False)[0][0])
        expected = Envelope(
            event_id=str(uuid.UUID(bytes=event_id, version=4)),
            type="condividi.sharing.v1.LinkClicked",
            org_id=str(link.org_id),
            aggregate_id=str(link.share_id),
            producer="sharing",
        )
        expected.occurred_at.seconds, expected.occurred_at.nanos = divmod(at_ns, 1_000_000_000)
        expected.payload.Pack(link.click(visitor.hex()), type_url_prefix="type.condividi.dev/")
        assert click.envelope == expected.SerializeToString()


def test_a_torn_or_damaged_tail_is_not_read() -> None:
    link = target()
    frames = [frame(n, os.urandom(16), os.urandom(16), link.spool_prefix) for n in range(3)]
    whole = b"".join(frames)
    assert read_frames(whole, sealed=False) == (read_frames(whole, sealed=False)[0], len(whole))
    assert len(read_frames(whole, sealed=False)[0]) == 3
    torn = whole[:-5]
    bodies, used = read_frames(torn, sealed=False)
    assert len(bodies) == 2 and used == len(frames[0]) + len(frames[1])
    damaged = whole[:-1] + bytes([whole[-1] ^ 1])
    assert len(read_frames(damaged, sealed=True)[0]) == 2


async def test_the_spool_seals_what_a_killed_writer_left_open(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-99.open").write_bytes(frame(1, os.urandom(16), os.urandom(16), b"x" * 16))
    spool = ClickSpool(tmp_path, segment_bytes=4096)
    spool.open()
    link = target()
    for n in range(100):  # some 120 bytes each: the segment turns over past 4 KiB
        spool.append(n, os.urandom(16), link.spool_prefix)
    await spool.close()
    found = list(segments(tmp_path))
    assert all(p.suffix == SEALED for p in found) and len(found) >= 3
    assert found[0].name == "00000000000000000001-99.sealed"
    spooled = sum(len(read_frames(p.read_bytes(), sealed=True)[0]) for p in found[1:])
    assert spooled == 100


async def _event_ids(bootstrap: str, topic: str) -> list[uuid.UUID]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    ids: list[uuid.UUID] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return ids
            ids.extend(uuid.UUID(parse_envelope(r.value or b"").event_id) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()


async def test_clicks_spooled_while_the_broker_is_away_all_reach_it(tmp_path: Path) -> None:
    """The broker is frozen (SIGSTOP: connections hang, requests time out, as in an outage) for a few
    request timeouts while clicks keep coming. The shipper marks a segment only after the broker
    acknowledged it, so how long the outage lasts changes only how often it retries: a few seconds prove
    what a minute would."""
    broker = LocalKafka(log_file=tmp_path / "kafka.log")
    settings = SharingSettings(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        KAFKA_NAMESPACE=f"spool-{uuid.uuid4().hex[:6]}",
        CLICK_SPOOL_DIR=str(tmp_path / "clicks"),
        CLICK_SHIPPER_REQUEST_TIMEOUT_MS=800,
    )
    topic = settings.kafka_name("condividi.sharing")
    spool = ClickSpool(tmp_path / "clicks", segment_bytes=64 * 1024)
    spool.open()
    shipper = ClickShipper(settings)
    link = target()
    written: list[bytes] = []

    def spool_clicks(n: int) -> None:
        for _ in range(n):
            visitor = os.urandom(16)
            spool.append(0, visitor, link.spool_prefix)
            written.append(visitor)

    try:
        await ensure_topics(settings, [topic])
        running = asyncio.create_task(shipper.run(drain_seconds=10))
        spool_clicks(500)
        await asyncio.sleep(1.0)
        os.kill(broker.process.pid, signal.SIGSTOP)
        try:
            for _ in range(6):  # clicks keep coming during the outage, segments turn over
                spool_clicks(500)
                await asyncio.sleep(0.5)
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
        spool_clicks(500)
        await spool.close()
        shipper.stopping.set()
        await asyncio.wait_for(running, 30)
        assert not any(segments(tmp_path / "clicks")), "the shipper left clicks unshipped"
        ids = await _event_ids(broker.bootstrap, topic)
        assert len(written) == 4000
        assert len(set(ids)) == 4000
    finally:
        shipper.stopping.set()
        broker.stop()

"""The queue behind the click redirect: nothing queued is lost at shutdown, and a write retried after an
outcome it could not know adds no duplicate."""

import asyncio
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.db import Database
from condividi.testing import Infra
from services.sharing.links import ClickRecorder, LinkTarget
from services.sharing.settings import SharingSettings


def target() -> LinkTarget:
    return LinkTarget(
        share_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        content_id=uuid.uuid4(),
        member_id="emp-1",
        network="x",
        location=b"https://acme.example/",
    )


async def outbox_ids(db: Database) -> list[uuid.UUID]:
    async with db.read() as session:
        return list((await session.execute(text("SELECT event_id FROM outbox ORDER BY id"))).scalars())


async def test_stop_writes_every_queued_click(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing")
    recorder = ClickRecorder(db)
    recorder.start()
    link = target()
    for n in range(300):
        recorder.record(LinkClicked(tracking_code="abcdefgh", visitor_hash=f"v{n}"), link)
    for _ in range(3):
        await asyncio.sleep(0)  # let the writer take a batch and start writing it
    await recorder.stop()  # with a write in flight and clicks still queued
    try:
        assert len(await outbox_ids(db)) == 300
    finally:
        await db.dispose()


async def test_a_batch_written_again_adds_no_duplicate(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing")
    recorder = ClickRecorder(db)
    link = target()
    for n in range(80):
        recorder.record(LinkClicked(tracking_code="abcdefgh", visitor_hash=f"v{n}"), link)
    queued = list(recorder._queue)
    try:
        # The first write committed, but (say) the connection dropped before the answer came back.
        await recorder._write(queued[:30], skip_existing=False)
        assert await recorder._flush()
        ids = await outbox_ids(db)
        assert len(ids) == 80 == len(set(ids))
        assert ids == [uuid.UUID(e.event_id) for e in queued]
    finally:
        await db.dispose()


def test_the_development_salt_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="CLICK_HASH_SALT"):
        SharingSettings(ENVIRONMENT="production")
    assert SharingSettings(ENVIRONMENT="production", CLICK_HASH_SALT="a-real-secret").CLICK_HASH_SALT

"""The inbox's blocks (``condividi/inbox_blocks.py``), which make metrics' click fold exactly-once with a
bit per click: the arithmetic as table tests, then on a migrated metrics database the guarantees the
per-event inbox gave (a batch read again, clicks shipped again in another order, two consumers taking
the same clicks at once, ids recorded before the upgrade)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from sqlalchemy import text

from condividi.db import Database, utcnow
from condividi.inbox_blocks import BLOCK_BITS, InboxBlocks, claim_in, from_bits, key_of, split, to_bits, uuid_int
from condividi.migrations import alembic_config, upgrade
from condividi.settings import ServiceSettings
from condividi.testing import Infra
from services.sharing.spool import EventIds

GROUP = "metrics.rollups"


def shipped(ids: EventIds, count: int) -> list[int]:
    """Ids as the click shipper stamps the spool's ones (UUID version 4), as integers."""
    return [uuid.UUID(bytes=ids.next(), version=4).int for _ in range(count)]


# --- arithmetic ----------------------------------------------------------------------------------


def test_uuid_int_reads_the_canonical_form_as_uuid_does() -> None:
    for value in (uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(bytes=b"\xab" * 16)):
        assert uuid_int(str(value)) == value.int
        assert uuid_int(str(value).upper()) == value.int


@pytest.mark.parametrize(
    "text_",
    [
        "",
        "not-a-uuid",
        "12345678123456781234567812345678",  # no hyphens: not the envelope's form
        "{12345678-1234-5678-1234-567812345678}",
        "12345678-1234-5678-1234-56781234567g",
        "12345678-1234-5678-1234-5678 2345678",
        "1234567-81234-5678-1234-567812345678",
        "12345678-1234-5678-1234-5678-2345678",
    ],
)
def test_uuid_int_refuses_anything_else(text_: str) -> None:
    with pytest.raises(ValueError, match=r"UUID|non-hexadecimal"):
        uuid_int(text_)


def test_a_spools_ids_share_a_row_until_a_block_is_full() -> None:
    ids = shipped(EventIds(), 3 * BLOCK_BITS)
    rows = [split(i) for i in ids]
    keys = {key for key, _ in rows}
    assert 3 <= len(keys) <= 4  # 3 blocks' worth, starting anywhere within the first
    assert len({prefix for prefix, _ in keys}) == 1
    assert all(-(2**63) <= prefix < 2**63 for prefix, _ in keys)
    # consecutive counters: the next bit, or bit 0 of the next block
    for (key, bit), following in itertools.pairwise(rows):
        assert following == ((key, bit + 1) if bit + 1 < BLOCK_BITS else ((key[0], key[1] + 1), 0))


def block(mask: int) -> bytearray:
    return from_bits(mask.to_bytes(BLOCK_BITS // 8, "little"))


@pytest.mark.parametrize(
    ("stored", "claimed", "fresh"),
    [
        ({}, [1, 2, 3], [True, True, True]),
        ({}, [1, 2, 1], [True, True, False]),  # a second copy in the same batch
        ({0: 0b110}, [1, 2, 3, 4], [False, False, True, True]),
        ({1: 1}, [BLOCK_BITS, BLOCK_BITS - 1], [False, True]),
        ({}, [2**127 + 5, 5], [True, True]),  # same low bits, another prefix
    ],
)
def test_claim_in_finds_the_ids_not_seen_yet(stored: dict[int, int], claimed: list[int], fresh: list[bool]) -> None:
    blocks = {key: block(mask) for key, mask in stored.items()}
    got, changed = claim_in(blocks, claimed)
    assert got == fresh
    assert changed == {i >> 12 for i, new in zip(claimed, fresh, strict=True) if new}
    again, _ = claim_in(blocks, claimed)
    assert again == [False] * len(claimed)


@pytest.mark.parametrize("mask", [0, 1, 0b1011, 1 << (BLOCK_BITS - 1), (1 << BLOCK_BITS) - 1])
def test_bits_are_stored_as_little_endian_integers_and_read_back(mask: int) -> None:
    stored = to_bits(block(mask))
    assert int.from_bytes(stored, "little") == mask
    assert len(stored) == (mask.bit_length() + 7) // 8  # no trailing zero bytes
    assert from_bits(stored) == block(mask)


@pytest.mark.parametrize("event_id", [0, 4095, 4096, 2**64 - 1, 2**64, 2**127 + 12345, 2**128 - 1])
def test_a_key_is_stored_in_two_bigints_and_read_back(event_id: int) -> None:
    (prefix, row), bit = split(event_id)
    assert -(2**63) <= prefix < 2**63 and 0 <= row < 2**52 and 0 <= bit < BLOCK_BITS
    assert key_of(prefix, row) == event_id >> 12
    assert (key_of(prefix, row) << 12) | bit == event_id


# --- on the database -----------------------------------------------------------------------------


@pytest.fixture
async def db(infra: Infra) -> Database:
    return Database(infra.new_database("metrics"), producer="inbox-blocks-test", pool_size=4)


async def claim(db: Database, ids: list[int], group: str = GROUP) -> list[bool]:
    async with db.unit_of_work() as uow:
        return await InboxBlocks(group).claim(uow.session, ids)


async def test_a_batch_read_again_and_clicks_shipped_again_out_of_order_count_once(db: Database) -> None:
    spool, other_spool = EventIds(), EventIds()
    first, second = shipped(spool, 300), shipped(spool, 300)
    random_ids = [uuid.uuid4().int for _ in range(20)]  # clicks of the outbox path, or a test's
    try:
        # The second batch reaches the broker before the first (the first failed and is sent again).
        assert await claim(db, second + random_ids) == [True] * 320
        assert await claim(db, first) == [True] * 300
        # Redelivered: the same batch, the lot again in another order, and both mixed with new clicks.
        assert await claim(db, second + random_ids) == [False] * 320
        assert await claim(db, list(reversed(first + second))) == [False] * 600
        newer = shipped(other_spool, 10) + shipped(spool, 10)
        mixed = [*first[:5], *newer, *second[-5:]]
        assert await claim(db, mixed) == [False] * 5 + [True] * 20 + [False] * 5
        # Another consumer group keeps its own bits.
        assert await claim(db, first[:3], group="metrics.other") == [True] * 3
        async with db.read() as session:
            rows = (await session.execute(text("SELECT count(*) FROM inbox_blocks"))).scalar_one()
        # 620 shipped clicks in a few rows; a random id is a row of its own.
        assert rows <= 2 + 2 + 1 + 20 + 1
    finally:
        await db.dispose()


async def test_a_claim_rolled_back_leaves_its_ids_fresh(db: Database) -> None:
    ids = shipped(EventIds(), 50)
    try:
        with pytest.raises(RuntimeError):
            async with db.unit_of_work() as uow:
                assert await InboxBlocks(GROUP).claim(uow.session, ids) == [True] * 50
                raise RuntimeError("the fold failed")
        assert await claim(db, ids) == [True] * 50
    finally:
        await db.dispose()


async def test_two_consumers_taking_the_same_clicks_apply_each_once(db: Database) -> None:
    """A rebalance can give a partition's records to the next owner while the last one still applies
    them: the second claim waits for the first transaction, then sees its bits."""
    spool = EventIds()
    ids = shipped(spool, 200)
    try:
        first_holds = asyncio.Event()
        release = asyncio.Event()

        async def slow_first() -> list[bool]:
            async with db.unit_of_work() as uow:
                fresh = await InboxBlocks(GROUP).claim(uow.session, ids[:150])
                first_holds.set()
                await release.wait()
                return fresh

        first = asyncio.create_task(slow_first())
        await first_holds.wait()
        second = asyncio.create_task(claim(db, ids[100:]))
        await asyncio.sleep(0.5)
        assert not second.done(), "the second claim must wait for the rows the first one holds"
        release.set()
        assert await first == [True] * 150
        assert await second == [False] * 50 + [True] * 50
    finally:
        await db.dispose()


async def test_ids_in_the_inbox_before_the_upgrade_are_recognised(infra: Infra) -> None:
    url = infra.new_database("metrics")
    config = alembic_config("metrics", ServiceSettings(DATABASE_URL=url).DATABASE_URL)
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(command.downgrade, config, "0002").result()
    before = shipped(EventIds(), 70) + [uuid.uuid4().int for _ in range(5)]
    db = Database(url, producer="inbox-blocks-test", pool_size=2)
    try:
        async with db.unit_of_work() as uow:
            await uow.session.execute(
                text("INSERT INTO inbox (consumer_group, event_id, processed_at) VALUES (:group, :id, :now)"),
                [{"group": GROUP, "id": uuid.UUID(int=i), "now": utcnow()} for i in before],
            )
        await db.dispose()
        upgrade("metrics", url)
        after = shipped(EventIds(), 5)
        assert await claim(db, before + after) == [False] * len(before) + [True] * len(after)
    finally:
        await db.dispose()

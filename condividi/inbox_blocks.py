"""The inbox of a consumer's batch-handled events, a bit per event id in blocks of 4,096 ids.

The per-event inbox (``condividi/consumer.py``) writes a row and an index entry for every event it
applies: for clicks, which come by the hundred thousand, that was as much database work as counting
them. Click ids are not random: the click spool (``services/sharing/spool.py``) draws 8 random bytes per
process and counts in the other 8, so the clicks of one sharing process have ids next to each other.
Here an id is split into its first 64 bits (the ``prefix``), the rest divided by 4,096 (the ``block``)
and the remainder (its ``bit``); a row per (consumer group, prefix, block) holds the bits of the ids
applied. A batch of a few thousand clicks touches a handful of rows.

It is an exact set of 128-bit ids, whatever the ids: a random UUID simply gets a row of its own. No
assumption is made about order, gaps or repeats in the topic (a redelivered batch, a click shipped again
after a crash, batches acknowledged out of order): an id is fresh exactly when its bit is not set yet.

Concurrency: the rows are locked (``ON CONFLICT DO UPDATE`` locks and returns the newest committed bits)
before they are read and stay locked until the transaction ends, so two consumers of the group taking
the same id cannot both see it as fresh; rows are locked in key order, so two of them never deadlock.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

BLOCK_BITS = 4096
_SHIFT = 12  # log2(BLOCK_BITS)
_BYTES = BLOCK_BITS // 8

# A block's key is the id without its last 12 bits: the prefix (the id's first 64 bits) and the block
# (the next 52) in one integer, split into the two bigint columns only for the rows of a batch.
Key = int

_LOCK = text(
    "INSERT INTO inbox_blocks (consumer_group, prefix, block, bits) "
    "SELECT :group, p, b, CAST('' AS bytea) "
    "FROM unnest(CAST(:prefixes AS bigint[]), CAST(:blocks AS bigint[])) AS k(p, b) "
    "ORDER BY p, b "
    "ON CONFLICT (consumer_group, prefix, block) DO UPDATE SET bits = inbox_blocks.bits "
    "RETURNING prefix, block, bits"
)
_STORE = text(
    "UPDATE inbox_blocks AS stored SET bits = new.bits "
    "FROM unnest(CAST(:prefixes AS bigint[]), CAST(:blocks AS bigint[]), CAST(:bits AS bytea[])) AS new(p, b, bits) "
    "WHERE stored.consumer_group = :group AND stored.prefix = new.p AND stored.block = new.b"
)


def uuid_int(text: str) -> int:
    """The 128-bit value of a UUID in its canonical text form (what ``uuid.UUID(text).int`` gives, at a
    third of the cost, for ids read by the thousand); ValueError for any other text."""
    if len(text) != 36 or text[8] != "-" or text[13] != "-" or text[18] != "-" or text[23] != "-":
        raise ValueError(f"not a UUID: {text!r}")
    raw = bytes.fromhex(text.replace("-", ""))  # ValueError for a non-hex digit
    if len(raw) != 16:  # whitespace, which fromhex skips, or a misplaced hyphen
        raise ValueError(f"not a UUID: {text!r}")
    return int.from_bytes(raw, "big")


def columns(key: Key) -> tuple[int, int]:
    """A key as stored: the prefix as a signed bigint, and the block."""
    prefix, block = key >> 52, key & ((1 << 52) - 1)
    return (prefix - (1 << 64) if prefix >= 1 << 63 else prefix), block


def key_of(prefix: int, block: int) -> Key:
    return (prefix & ((1 << 64) - 1)) << 52 | block


def split(event_id: int) -> tuple[tuple[int, int], int]:
    """The row (prefix, block) and the bit of a 128-bit id."""
    return columns(event_id >> _SHIFT), event_id & (BLOCK_BITS - 1)


def to_bits(bits: bytearray) -> bytes:
    """A block's bits as stored: bit n in byte n // 8 at n % 8 (so PostgreSQL's get_bit reads them too),
    without the trailing zero bytes (empty for none)."""
    return bytes(bits).rstrip(b"\x00")


def from_bits(stored: bytes) -> bytearray:
    return bytearray(stored.ljust(_BYTES, b"\x00"))


def claim_in(blocks: dict[Key, bytearray], event_ids: list[int]) -> tuple[list[bool], set[Key]]:
    """Marks ``event_ids`` in ``blocks`` (key -> bits, updated in place; a missing key is an empty
    block): for each id, whether its bit was clear (a second copy in the same list is not fresh), and
    the keys whose bits changed."""
    fresh: list[bool] = []
    changed: set[Key] = set()
    for event_id in event_ids:
        key = event_id >> _SHIFT
        bits = blocks.get(key)
        if bits is None:
            bits = blocks[key] = bytearray(_BYTES)
        at, flag = (event_id >> 3) & (_BYTES - 1), 1 << (event_id & 7)
        if bits[at] & flag:
            fresh.append(False)
            continue
        bits[at] |= flag
        changed.add(key)
        fresh.append(True)
    return fresh, changed


class InboxBlocks:
    def __init__(self, group: str) -> None:
        self.group = group

    async def claim(self, session: AsyncSession, event_ids: list[int]) -> list[bool]:
        """Records ``event_ids`` as applied in the session's transaction; for each, whether it is new
        (False for an id applied before, or earlier in the list). Two round trips whatever the count."""
        rows = sorted(columns(key) for key in {event_id >> _SHIFT for event_id in event_ids})
        locked = await session.execute(
            _LOCK,
            {"group": self.group, "prefixes": [p for p, _ in rows], "blocks": [b for _, b in rows]},
        )
        blocks = {key_of(prefix, block): from_bits(bits) for prefix, block, bits in locked}
        fresh, changed = claim_in(blocks, event_ids)
        if changed:
            order = sorted(columns(key) for key in changed)
            await session.execute(
                _STORE,
                {
                    "group": self.group,
                    "prefixes": [p for p, _ in order],
                    "blocks": [b for _, b in order],
                    "bits": [to_bits(blocks[key_of(p, b)]) for p, b in order],
                },
            )
        return fresh

"""The click spool: counted clicks appended to a local file before their redirect is answered, and read
back by the click shipper (``services/sharing/shipper.py``), which publishes them to Kafka.

A click changes no state in sharing, so it needs neither the outbox nor a transaction: what it needs is
to survive until it is on the broker. The redirect writes the click's frame with one ``write(2)`` before
it sends the 302, so a click whose redirect was answered is in the kernel's page cache and survives a
SIGKILL of the process; a background task calls ``fsync`` every ``CLICK_SPOOL_FSYNC_SECONDS``, which bounds
what a crash of the whole machine can lose. The click's event id is drawn when it is spooled, so
publishing a frame twice (the shipper restarted between the broker's ack and its checkpoint) sends the
same event twice, which the consumers' inboxes drop.

Files: one writer (one sharing process) per directory. It appends to ``<start-ns>-<pid>.open`` and
renames it to ``.sealed`` when it passes ``segment_bytes`` or at shutdown; on start it seals the segments
a previous process left open (it was killed). The shipper keeps its progress in ``<segment>.shipped``
and deletes a sealed segment once all of it is on the broker.

Frame: ``<u32 length><u32 crc32>`` then the body: ``<i64 unix ns><16 bytes event id><16 bytes visitor
digest><16 bytes org id>`` and the ``LinkClicked`` payload without its visitor hash (serialised once per
link). The shipper builds the envelope: that work is off the redirect's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from condividi.contracts.sharing_pb2 import LinkClicked

log = logging.getLogger(__name__)

OPEN = ".open"
SEALED = ".sealed"
SHIPPED = ".shipped"

_HEAD = struct.Struct("<II")
_CLICK = struct.Struct("<q16s16s")  # time, event id, visitor; the link's prefix follows
_FIXED = struct.Struct("<q16s16s16s")  # the same, with the org id that starts the prefix
_TYPE = LinkClicked.DESCRIPTOR.full_name
_TYPE_URL = "type.condividi.dev/" + _TYPE


def link_prefix(org_id: uuid.UUID, click: LinkClicked) -> bytes:
    """What every click of one link carries: the org and the payload's fixed fields."""
    return org_id.bytes + click.SerializeToString()


def frame(at_ns: int, event_id: bytes, visitor: bytes, prefix: bytes) -> bytes:
    body = _CLICK.pack(at_ns, event_id, visitor) + prefix
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


class EventIds:
    """Unique event ids for the clicks of one process, at a third of the cost of ``os.urandom(16)``
    each: 8 random bytes drawn once, then a counter. The shipper stamps them as UUID version 4 (which
    overwrites 4 of the random bits and 2 of the counter's top ones, never reached), so two processes
    share ids only if their 60 random bits are equal."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8)
        self._count = itertools.count(secrets.randbelow(2**32))

    def next(self) -> bytes:
        return self._prefix + next(self._count).to_bytes(8, "big")


class ClickSpool:
    """The writing end, in the sharing process. ``append`` is synchronous on purpose: the redirect
    calls it before answering, so an answered click is on file."""

    def __init__(self, directory: Path, *, segment_bytes: int = 64 * 1024 * 1024, fsync_seconds: float = 1.0) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsync_seconds = fsync_seconds
        self._fd = -1
        self._path: Path | None = None
        self._size = 0
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._ids = EventIds()

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for left in self.directory.glob(f"*{OPEN}"):
            # A previous process of this directory was killed while writing it: nobody appends to it now.
            left.rename(left.with_suffix(SEALED))
        self._new_segment()

    def _new_segment(self) -> None:
        self._path = self.directory / f"{time.time_ns():020d}-{os.getpid()}{OPEN}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def _seal(self) -> None:
        if self._fd < 0 or self._path is None:
            return
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._path.rename(self._path.with_suffix(SEALED))
        self._path = None

    def append(self, at_ns: int, visitor: bytes, prefix: bytes) -> None:
        """Writes one click; raises OSError when the file cannot take it (the caller counts it lost)."""
        data = frame(at_ns, self._ids.next(), visitor, prefix)
        os.write(self._fd, data)
        self._dirty = True
        self._size += len(data)
        if self._size >= self.segment_bytes:
            self._seal()
            self._new_segment()

    def start(self) -> None:
        self._task = asyncio.create_task(self._sync_now_and_then(), name="click-spool-fsync")

    async def _sync_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.fsync_seconds)
            if self._dirty and self._fd >= 0:
                self._dirty = False
                fd = os.dup(self._fd)  # a rotation may close the writer's descriptor meanwhile
                try:
                    await asyncio.to_thread(os.fsync, fd)
                finally:
                    os.close(fd)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._seal()


# --- the reading end ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    event_id: uuid.UUID
    share_id: str
    envelope: bytes


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as protobuf writes them
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited field (a string, bytes or a message), as protobuf serialises it."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


@dataclass(frozen=True)
class _LinkParts:
    """The serialised parts of a link's envelopes that do not change from click to click."""

    share_id: str
    head: bytes  # the envelope's type, org_id and aggregate_id fields (numbers 2 to 4)
    producer: bytes  # its producer field (6)
    type_url: bytes  # the Any's type_url field
    payload: bytes  # the LinkClicked without its visitor hash (the highest field number, serialised last)


_PARTS: dict[bytes, _LinkParts] = {}
_MAX_PARTS = 20_000  # links; forgotten all at once past that (a cache, rebuilt as clicks come)
_VISITOR_TAG = _varint(6 << 3 | 2) + _varint(32)  # LinkClicked.visitor_hash: 32 hex digits


def _parts_of(prefix: bytes) -> _LinkParts:
    parts = _PARTS.get(prefix)
    if parts is None:
        payload = LinkClicked.FromString(prefix[16:])
        org = str(uuid.UUID(bytes=prefix[:16]))
        parts = _LinkParts(
            share_id=payload.share_id,
            head=_field(2, _TYPE.encode()) + _field(3, org.encode()) + _field(4, payload.share_id.encode()),
            producer=_field(6, b"sharing"),
            type_url=_field(1, _TYPE_URL.encode()),
            payload=prefix[16:],
        )
        if len(_PARTS) >= _MAX_PARTS:
            _PARTS.clear()
        _PARTS[prefix] = parts
    return parts


def envelope_of(body: bytes) -> Click:
    """The click's envelope, the bytes ``Envelope.SerializeToString`` would give, put together from the
    link's parts serialised once and the click's own fields: protobuf serialises fields in number order,
    so a message is the concatenation of its fields (the shipper's work per click, by the profile in
    bench/README.md, was mostly building and serialising the two messages)."""
    at_ns, event_id, visitor, _ = _FIXED.unpack_from(body)
    parts = _parts_of(body[_FIXED.size - 16 :])
    identifier = uuid.UUID(bytes=event_id, version=4)
    seconds, nanos = divmod(at_ns, 1_000_000_000)
    occurred_at = (b"\x08" + _varint(seconds) if seconds else b"") + (b"\x10" + _varint(nanos) if nanos else b"")
    value = parts.payload + _VISITOR_TAG + visitor.hex().encode()
    envelope = b"".join(
        (
            _field(1, str(identifier).encode()),
            parts.head,
            _field(5, occurred_at),
            parts.producer,
            _field(8, parts.type_url + _field(2, value)),
        )
    )
    return Click(identifier, parts.share_id, envelope)


def read_frames(data: bytes, *, sealed: bool) -> tuple[list[bytes], int]:
    """The whole frames at the start of ``data`` and how many bytes they take. A torn or damaged frame
    ends the read: in an open segment it may still be being written, so it is read again later; in a
    sealed one it is the tail of a write cut short, and the caller skips it (``sealed`` only logs)."""
    bodies: list[bytes] = []
    at = 0
    end = len(data)
    while at + _HEAD.size <= end:
        length, crc = _HEAD.unpack_from(data, at)
        start = at + _HEAD.size
        if start + length > end:
            break
        body = data[start : start + length]
        if zlib.crc32(body) != crc or length < _FIXED.size:
            if sealed:
                log.error("damaged click frame skipped with the rest of its segment", extra={"offset": at})
            break
        bodies.append(body)
        at = start + length
    return bodies, at


def segments(directory: Path) -> Iterator[Path]:
    """The spool's segments, oldest first (their names start with the writer's start time)."""
    found = [p for p in directory.glob("*") if p.suffix in (OPEN, SEALED)]
    yield from sorted(found, key=lambda p: p.stem)


def shipped_offset(segment: Path) -> int:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int((segment.with_suffix(SHIPPED)).read_text())
    return 0


def record_shipped(segment: Path, offset: int) -> None:
    marker = segment.with_suffix(SHIPPED)
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(str(offset))
    os.replace(temporary, marker)

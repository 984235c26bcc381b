"""The audit log (issue 8, items 13 and 14): every decision, policy publication and rule change, append
only and hash-chained per org, so a changed or deleted entry is detected; its verification, its retention
prune and its export.

An entry's hash is SHA-256 over the canonical serialisation of the entry with the hash of the entry
before it (``canonical``: JSON, keys sorted, no spaces, UTF-8, times in UTC with microseconds). The first
entry of an org follows ``GENESIS``. ``record`` appends in the caller's unit of work, so the entry commits
with the change it records or not at all; it locks the org's chain head first, so concurrent appends
queue instead of forking the chain.

Command line (the org's id is a UUID)::

    python -m services.policy.audit verify --org <org-id>        # exit 1 when the chain is broken
    python -m services.policy.audit prune --org <org-id>         # or --all-orgs: retention prune
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import Database, UnitOfWork, utcnow
from services.policy.audit_models import (
    DEFAULT_RETENTION_DAYS,
    AuditEntry,
    AuditRetention,
    AuditVerification,
    ChainBreak,
)

GENESIS = "0" * 64
# The system's own decisions (no human decided): the actor of automatic entries.
AUTOMATIC = "policy"

SHARE_DECIDED = "share.decided"
POLICY_PUBLISHED = "policy.published"
RULE_CHANGED = "rule.changed"
NEAR_DUPLICATES_CHANGED = "near_duplicates.changed"
RETENTION_CHANGED = "retention.changed"
PRUNED = "audit.pruned"

_VERIFY_BATCH = 2000


# --- the chain (pure) -----------------------------------------------------------------------------


def _scrub(value: Any) -> Any:
    """PostgreSQL's JSONB cannot hold U+0000; it is replaced before hashing, so what is stored is
    exactly what was hashed."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {str(k).replace("\x00", "\ufffd"): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(
    *,
    org_id: uuid.UUID | str,
    seq: int,
    kind: str,
    subject_id: str,
    actor: str,
    payload: dict[str, Any],
    recorded_at: datetime | str,
    prev_hash: str,
) -> bytes:
    fields = {
        "org_id": str(org_id),
        "seq": seq,
        "kind": kind,
        "subject_id": subject_id,
        "actor": actor,
        "payload": payload,
        "recorded_at": recorded_at if isinstance(recorded_at, str) else timestamp(recorded_at),
        "prev_hash": prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical(**fields)).hexdigest()


def hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        org_id=entry.org_id,
        seq=entry.seq,
        kind=entry.kind,
        subject_id=entry.subject_id,
        actor=entry.actor,
        payload=entry.payload,
        recorded_at=entry.recorded_at,
        prev_hash=entry.prev_hash,
    )


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    pruned_seq: int = 0
    pruned_hash: str = GENESIS


@dataclass
class ChainWalk:
    """Checks entries one at a time, in order of ``seq``; remembers the first break."""

    org_id: uuid.UUID
    head: Head
    checked: int = 0
    first_seq: int = 0
    first_break: ChainBreak | None = None

    def __post_init__(self) -> None:
        self._expected_seq = self.head.pruned_seq + 1
        self._previous = self.head.pruned_hash

    def _broken(self, seq: int, reason: str) -> None:
        if self.first_break is None:
            self.first_break = ChainBreak(seq=seq, reason=reason)

    def step(self, entry: AuditEntry) -> None:
        if self.first_break is not None:
            return
        self.checked += 1
        self.first_seq = self.first_seq or entry.seq
        if entry.seq != self._expected_seq:
            missing = (
                f"{self._expected_seq}"
                if entry.seq == self._expected_seq + 1
                else (f"{self._expected_seq} to {entry.seq - 1}")
            )
            self._broken(self._expected_seq, f"entry {missing} is missing (deleted)")
            return
        if entry.prev_hash != self._previous:
            self._broken(entry.seq, "its previous hash is not the hash of the entry before it")
            return
        if hash_of(entry) != entry.hash:
            self._broken(entry.seq, "its content does not match its hash (changed after it was written)")
            return
        self._expected_seq = entry.seq + 1
        self._previous = entry.hash

    def finish(self) -> AuditVerification:
        if self.first_break is None and self._expected_seq - 1 != self.head.seq:
            self._broken(
                self._expected_seq,
                f"the chain ends at entry {self._expected_seq - 1}, its head names "
                f"entry {self.head.seq} (entries at the end were deleted)",
            )
        elif self.first_break is None and self._previous != self.head.hash:
            self._broken(self.head.seq, "the last entry's hash is not the one the chain's head recorded")
        return AuditVerification(
            ok=self.first_break is None,
            entries_checked=self.checked,
            first_seq=self.first_seq,
            head_seq=self.head.seq,
            head_hash=self.head.hash,
            first_break=self.first_break,
        )


# --- appending ------------------------------------------------------------------------------------


async def _lock_head(session: AsyncSession, org_id: uuid.UUID) -> Head:
    """The org's chain head, locked until the transaction ends (created on the first entry). The upsert
    takes the row lock and answers the latest committed head in one round trip."""
    row = (
        await session.execute(
            text(
                "INSERT INTO audit_heads (org_id, seq, hash, pruned_seq, pruned_hash) "
                "VALUES (:org, 0, :genesis, 0, :genesis) "
                "ON CONFLICT (org_id) DO UPDATE SET org_id = EXCLUDED.org_id "
                "RETURNING seq, hash, pruned_seq, pruned_hash"
            ),
            {"org": org_id, "genesis": GENESIS},
        )
    ).one()
    return Head(row.seq, row.hash, row.pruned_seq, row.pruned_hash)


async def record(
    uow: UnitOfWork,
    org_id: uuid.UUID,
    kind: str,
    subject_id: object,
    actor: str,
    payload: dict[str, Any],
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """Appends an entry to the org's chain in ``uow``'s transaction: it commits with the change it
    records, or not at all. ``payload`` must be JSON (strings, numbers, booleans, lists, objects).
    ``at`` is for imports and tests; by default the time the chain's head was locked."""
    head = await _lock_head(uow.session, org_id)
    recorded_at = at or utcnow()
    fields: dict[str, Any] = {
        "org_id": org_id,
        "seq": head.seq + 1,
        "kind": kind,
        "subject_id": str(subject_id)[:255],
        "actor": actor[:255],
        "payload": _scrub(payload),
        "recorded_at": recorded_at,
        "prev_hash": head.hash,
    }
    # Round-tripped through JSON so the hash covers exactly what JSONB gives back (tuples become lists).
    fields["payload"] = json.loads(json.dumps(fields["payload"]))
    entry = AuditEntry(id=uuid.uuid4(), hash=entry_hash(**fields), **fields)
    uow.session.add(entry)
    await uow.session.flush()
    await uow.session.execute(
        text("UPDATE audit_heads SET seq = :seq, hash = :hash WHERE org_id = :org"),
        {"seq": entry.seq, "hash": entry.hash, "org": org_id},
    )
    return entry


# --- verifying ------------------------------------------------------------------------------------


async def read_head(session: AsyncSession, org_id: uuid.UUID) -> Head:
    row = (
        await session.execute(
            text("SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE org_id = :org"), {"org": org_id}
        )
    ).one_or_none()
    return Head(row.seq, row.hash, row.pruned_seq, row.pruned_hash) if row is not None else Head(0, GENESIS)


async def verify(session: AsyncSession, org_id: uuid.UUID) -> AuditVerification:
    """Walks the org's chain from its first kept entry to its head and reports the first break. Reads in
    batches by ``seq`` (the unique index), so a long chain is never held in memory."""
    walk = ChainWalk(org_id, await read_head(session, org_id))
    after = -1
    while walk.first_break is None:
        batch = (
            await session.scalars(
                select(AuditEntry)
                .where(col(AuditEntry.org_id) == org_id, col(AuditEntry.seq) > after)
                .order_by(col(AuditEntry.seq))
                .limit(_VERIFY_BATCH)
            )
        ).all()
        for entry in batch:
            walk.step(entry)
        if len(batch) < _VERIFY_BATCH:
            break
        after = batch[-1].seq
    return walk.finish()


# --- retention ------------------------------------------------------------------------------------


async def retention_days(session: AsyncSession, org_id: uuid.UUID) -> int:
    record_ = await session.get(AuditRetention, org_id)
    return record_.retention_days if record_ is not None else DEFAULT_RETENTION_DAYS


@dataclass(frozen=True)
class Pruned:
    deleted: int
    through_seq: int  # the last deleted entry (0: none)


async def prune(uow: UnitOfWork, org_id: uuid.UUID, now: datetime | None = None) -> Pruned:
    """Deletes the org's oldest entries that are past its retention period, as a prefix of the chain,
    and records the prune in the chain. The chain's head keeps the last deleted entry's hash, so what is
    left still verifies from there, and the trigger refuses any entry inside the period whatever this
    code computes."""
    now = now or utcnow()
    session = uow.session
    head = await _lock_head(session, org_id)
    cutoff = now - timedelta(days=await retention_days(session, org_id))
    # A prefix only: the first entry still inside the period ends it, even if a later one is older.
    first_kept = await session.scalar(
        text("SELECT min(seq) FROM audit_entries WHERE org_id = :org AND recorded_at >= :cutoff"),
        {"org": org_id, "cutoff": cutoff},
    )
    through = (first_kept - 1) if first_kept is not None else head.seq
    if through <= head.pruned_seq:
        return Pruned(0, 0)
    last = await session.scalar(
        select(AuditEntry.hash).where(col(AuditEntry.org_id) == org_id, col(AuditEntry.seq) == through)
    )
    await session.execute(text("SET LOCAL condividi.audit_prune = 'on'"))
    deleted = await session.execute(
        text("DELETE FROM audit_entries WHERE org_id = :org AND seq <= :through"), {"org": org_id, "through": through}
    )
    await session.execute(text("SET LOCAL condividi.audit_prune = 'off'"))
    count = int(deleted.rowcount)  # type: ignore[attr-defined]
    await session.execute(
        text("UPDATE audit_heads SET pruned_seq = :seq, pruned_hash = :hash WHERE org_id = :org"),
        {"seq": through, "hash": last or GENESIS, "org": org_id},
    )
    await record(
        uow,
        org_id,
        PRUNED,
        org_id,
        AUTOMATIC,
        {"deleted": count, "through_seq": through, "through_hash": last or GENESIS, "cutoff": timestamp(cutoff)},
    )
    return Pruned(count, through)


# --- export ---------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "seq",
    "recorded_at",
    "kind",
    "subject_id",
    "actor",
    "network",
    "member_id",
    "text",
    "url",
    "outcome",
    "rules",
    "payload",
    "prev_hash",
    "hash",
)


def export_record(entry: AuditEntry) -> dict[str, Any]:
    """One exported entry: the chain's fields as they were hashed, and, for a decision, its parts
    named for the reader (the text as submitted, the rules met, the outcome, who decided)."""
    payload = entry.payload
    return {
        "org_id": str(entry.org_id),
        "seq": entry.seq,
        "recorded_at": timestamp(entry.recorded_at),
        "kind": entry.kind,
        "subject_id": entry.subject_id,
        "actor": entry.actor,
        "network": payload.get("network", ""),
        "member_id": payload.get("member_id", ""),
        "text": payload.get("text", ""),
        "url": payload.get("url", ""),
        "outcome": payload.get("outcome", ""),
        "rules": [v.get("code", "") for v in payload.get("findings", []) if isinstance(v, dict)],
        "payload": payload,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def jsonl_line(entry: AuditEntry) -> str:
    return json.dumps(export_record(entry), ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_header() -> str:
    return _csv_row(["org_id", *EXPORT_COLUMNS])


def csv_line(entry: AuditEntry) -> str:
    data = export_record(entry)
    data["rules"] = ";".join(data["rules"])
    data["payload"] = json.dumps(data["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _csv_row([_csv_safe(data[name]) for name in ("org_id", *EXPORT_COLUMNS)])


def _csv_safe(value: Any) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with a quote (OWASP's
    CSV injection advice). The ``payload`` cell keeps the exact text that was hashed."""
    cell = str(value)
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _csv_row(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(list(cells))
    return out.getvalue()


def verify_export(records: Iterable[dict[str, Any]]) -> ChainBreak | None:
    """What an auditor runs on an export (JSON Lines, parsed): each entry's hash recomputed from its
    fields, and each entry following the one before it in the range. None when all verify."""
    previous: dict[str, Any] | None = None
    for item in records:
        recomputed = entry_hash(
            org_id=item["org_id"],
            seq=item["seq"],
            kind=item["kind"],
            subject_id=item["subject_id"],
            actor=item["actor"],
            payload=item["payload"],
            recorded_at=item["recorded_at"],
            prev_hash=item["prev_hash"],
        )
        if recomputed != item["hash"]:
            return ChainBreak(seq=item["seq"], reason="its content does not match its hash")
        if previous is not None and (item["seq"] != previous["seq"] + 1 or item["prev_hash"] != previous["hash"]):
            return ChainBreak(seq=item["seq"], reason="it does not follow the entry before it")
        previous = item
    return None


async def export_entries(
    db: Database, org_id: uuid.UUID, since: datetime, until: datetime
) -> AsyncIterator[AuditEntry]:
    """The org's entries recorded in ``[since, until)``, in chain order, streamed from a server-side
    cursor (one snapshot, a few hundred rows in memory at a time)."""
    async with db.sessions() as session, session.begin():
        # In the chain's order, and only the entries of the range: an auditor checks each hash and that
        # each entry follows the one before it.
        result = await session.stream_scalars(
            select(AuditEntry)
            .where(
                col(AuditEntry.org_id) == org_id,
                col(AuditEntry.recorded_at) >= since,
                col(AuditEntry.recorded_at) < until,
            )
            .order_by(col(AuditEntry.seq))
            .execution_options(yield_per=500)
        )
        async for entry in result:
            yield entry


async def export_lines(
    db: Database, org_id: uuid.UUID, since: datetime, until: datetime, fmt: str
) -> AsyncIterator[str]:
    """The export as text, line by line (``fmt``: "jsonl" or "csv")."""
    if fmt == "csv":
        yield csv_header()
    async for entry in export_entries(db, org_id, since, until):
        yield csv_line(entry) if fmt == "csv" else jsonl_line(entry)


# --- command line ---------------------------------------------------------------------------------


async def _run(command: str, org: uuid.UUID | None, url: str) -> int:
    db = Database(url, producer="policy")
    try:
        if command == "verify":
            assert org is not None
            async with db.read() as session:
                result = await verify(session, org)
            print(result.model_dump_json(indent=2))
            return 0 if result.ok else 1
        async with db.read() as session:
            orgs = (
                [org]
                if org is not None
                else list((await session.scalars(text("SELECT org_id FROM audit_heads ORDER BY org_id"))).all())
            )
        for each in orgs:
            async with db.unit_of_work() as uow:
                done = await prune(uow, each)
            print(json.dumps({"org_id": str(each), "deleted": done.deleted, "through_seq": done.through_seq}))
        return 0
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    from services.policy.settings import PolicySettings

    parser = argparse.ArgumentParser(description="The policy service's audit log: verify an org's chain, or prune.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="walk the org's chain; exit 1 at the first broken entry")
    check.add_argument("--org", type=uuid.UUID, required=True)
    cut = sub.add_parser("prune", help="delete entries past the retention period (whole prefixes of the chain)")
    target = cut.add_mutually_exclusive_group(required=True)
    target.add_argument("--org", type=uuid.UUID)
    target.add_argument("--all-orgs", action="store_true")
    options = parser.parse_args(argv)
    return asyncio.run(_run(options.command, options.org, PolicySettings().DATABASE_URL))


if __name__ == "__main__":
    sys.exit(main())

"""The audit log on the real database: the chain verifies, a changed or deleted entry is found (the
tampering done as a superuser with the append-only trigger switched off), concurrent appends do not
fork the chain, the retention prune keeps everything inside the period, and the export verifies."""

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from condividi.db import Database, utcnow
from condividi.testing import Infra
from services.policy import audit
from services.policy.audit_models import AuditEntry, AuditRetention, AuditVerification

pytestmark = pytest.mark.asyncio(loop_scope="package")


@pytest_asyncio.fixture(scope="module", loop_scope="package")
async def db(infra: Infra) -> AsyncIterator[Database]:
    database = Database(infra.new_database("policy"), producer="policy")
    yield database
    await database.dispose()


async def tamper(db: Database, statement: str, *args: object) -> None:
    """What someone with the database's superuser could do: triggers off for the session, then SQL."""
    _, options = db.engine.dialect.create_connect_args(db.engine.url)
    connection = await asyncpg.connect(**options)
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def append(db: Database, org: uuid.UUID, count: int, **at: object) -> None:
    for n in range(count):
        async with db.unit_of_work() as uow:
            await audit.record(
                uow, org, audit.SHARE_DECIDED, uuid.uuid4(), audit.AUTOMATIC, {"n": n, "text": "Ciao"}, **at
            )  # type: ignore[arg-type]


async def verification(db: Database, org: uuid.UUID) -> AuditVerification:
    async with db.read() as session:
        return await audit.verify(session, org)


async def test_an_untouched_chain_verifies(db: Database) -> None:
    org = uuid.uuid4()
    await append(db, org, 3)
    result = await verification(db, org)
    assert result.ok and result.first_break is None
    assert (result.entries_checked, result.first_seq, result.head_seq) == (3, 1, 3)


async def test_an_org_without_entries_verifies_empty(db: Database) -> None:
    result = await verification(db, uuid.uuid4())
    assert result.ok and result.entries_checked == 0 and result.head_hash == audit.GENESIS


async def test_a_changed_entry_is_found(db: Database) -> None:
    org = uuid.uuid4()
    await append(db, org, 4)
    await tamper(
        db, 'UPDATE audit_entries SET payload = \'{"n": 1, "text": "Buy now"}\' WHERE org_id = $1 AND seq = 2', org
    )
    result = await verification(db, org)
    assert not result.ok
    assert result.first_break is not None and result.first_break.seq == 2
    assert "does not match its hash" in result.first_break.reason


async def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(db: Database) -> None:
    org = uuid.uuid4()
    await append(db, org, 3)
    async with db.read() as session:
        second = (
            await session.execute(select(AuditEntry).where(col(AuditEntry.org_id) == org, col(AuditEntry.seq) == 2))
        ).scalar_one()
    second.actor = "someone-else"
    forged = audit.hash_of(second)
    await tamper(
        db, "UPDATE audit_entries SET actor = 'someone-else', hash = $2 WHERE org_id = $1 AND seq = 2", org, forged
    )
    result = await verification(db, org)
    assert result.first_break is not None and result.first_break.seq == 3
    assert "previous hash" in result.first_break.reason


async def test_a_deleted_entry_is_found(db: Database) -> None:
    org = uuid.uuid4()
    await append(db, org, 5)
    await tamper(db, "DELETE FROM audit_entries WHERE org_id = $1 AND seq = 3", org)
    result = await verification(db, org)
    assert result.first_break is not None and result.first_break.seq == 3
    assert "missing" in result.first_break.reason


async def test_a_deleted_last_entry_is_found_by_the_head(db: Database) -> None:
    org = uuid.uuid4()
    await append(db, org, 3)
    await tamper(db, "DELETE FROM audit_entries WHERE org_id = $1 AND seq = 3", org)
    result = await verification(db, org)
    assert result.first_break is not None and result.first_break.seq == 3
    assert "head names entry 3" in result.first_break.reason


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'x' WHERE org_id = :org",
        "DELETE FROM audit_entries WHERE org_id = :org",
        "TRUNCATE audit_entries",
    ],
)
async def test_the_database_refuses_to_change_or_delete_entries(db: Database, statement: str) -> None:
    org = uuid.uuid4()
    await append(db, org, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.unit_of_work() as uow:
            await uow.session.execute(text(statement), {"org": org})
    assert (await verification(db, org)).entries_checked == 1


async def test_concurrent_appends_make_one_chain(db: Database) -> None:
    org = uuid.uuid4()
    await asyncio.gather(*(append(db, org, 1) for _ in range(12)))
    result = await verification(db, org)
    assert result.ok and result.entries_checked == 12 and result.head_seq == 12


async def set_retention(db: Database, org: uuid.UUID, days: int) -> None:
    async with db.unit_of_work() as uow:
        uow.session.add(AuditRetention(org_id=org, retention_days=days, updated_by="admin", updated_at=utcnow()))


async def test_a_prune_deletes_only_entries_past_the_retention_period(db: Database) -> None:
    org, now = uuid.uuid4(), utcnow()
    await set_retention(db, org, 365)
    # Oldest first, as the chain is written; the third is inside the period and ends the prefix, so the
    # fourth, older again (a back-dated import), stays too.
    for days in (500, 366, 364, 400, 0):
        await append(db, org, 1, at=now - timedelta(days=days))
    async with db.unit_of_work() as uow:
        pruned = await audit.prune(uow, org, now)
    assert (pruned.deleted, pruned.through_seq) == (2, 2)
    async with db.read() as session:
        kept = (
            await session.execute(
                text("SELECT seq, recorded_at FROM audit_entries WHERE org_id = :org ORDER BY seq"), {"org": org}
            )
        ).all()
    assert [row.seq for row in kept] == [3, 4, 5, 6]  # 6: the prune's own entry
    assert all(row.recorded_at > now - timedelta(days=365) for row in kept if row.seq in (3, 5, 6))
    result = await verification(db, org)
    assert result.ok and result.first_seq == 3 and result.entries_checked == 4
    # Pruning again right away finds nothing more to delete.
    async with db.unit_of_work() as uow:
        assert (await audit.prune(uow, org, now)).deleted == 0


async def test_the_database_refuses_a_prune_inside_the_period_whatever_the_code_asks(db: Database) -> None:
    org, now = uuid.uuid4(), utcnow()
    await set_retention(db, org, 365)
    await append(db, org, 1, at=now - timedelta(days=300))
    with pytest.raises(DBAPIError, match="inside its retention period"):
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("SET LOCAL condividi.audit_prune = 'on'"))
            await uow.session.execute(text("DELETE FROM audit_entries WHERE org_id = :org"), {"org": org})
    # A prune told the time is ten years on deletes nothing either: the database judges by its own clock.
    with pytest.raises(DBAPIError, match="inside its retention period"):
        async with db.unit_of_work() as uow:
            await audit.prune(uow, org, now + timedelta(days=3650))
    assert (await verification(db, org)).entries_checked == 1


async def exported(db: Database, org: uuid.UUID, fmt: str, since_days: int = 1) -> str:
    now = utcnow()
    parts = [
        line
        async for line in audit.export_lines(db, org, now - timedelta(days=since_days), now + timedelta(minutes=1), fmt)
    ]
    return "".join(parts)


async def test_the_export_holds_the_chain_and_an_auditor_can_verify_it(db: Database) -> None:
    org, now = uuid.uuid4(), utcnow()
    await append(db, org, 1, at=now - timedelta(days=10))  # outside the range asked for
    async with db.unit_of_work() as uow:
        await audit.record(
            uow,
            org,
            audit.SHARE_DECIDED,
            uuid.uuid4(),
            audit.AUTOMATIC,
            {
                "text": "=cmd| garantito «99%»\x00",
                "outcome": "rejected",
                "network": "x",
                "member_id": "ada",
                "findings": [{"code": "too_long", "message": "..."}],
            },
        )
    await append(db, org, 2)
    records = [json.loads(line) for line in (await exported(db, org, "jsonl")).splitlines()]
    assert [r["seq"] for r in records] == [2, 3, 4]
    first = records[0]
    assert first["text"] == "=cmd| garantito «99%»\ufffd" and first["rules"] == ["too_long"]
    assert (first["outcome"], first["actor"], first["member_id"]) == ("rejected", "policy", "ada")
    assert audit.verify_export(records) is None
    changed = [dict(r) for r in records]
    changed[1]["payload"] = {**changed[1]["payload"], "n": 99}
    broken = audit.verify_export(changed)
    assert broken is not None and broken.seq == 3
    dropped = [records[0], records[2]]
    broken = audit.verify_export(dropped)
    assert broken is not None and broken.seq == 4

    rows = list(csv.DictReader(io.StringIO(await exported(db, org, "csv"))))
    assert [int(r["seq"]) for r in rows] == [2, 3, 4]
    # A formula-looking text is defused for spreadsheets; the payload cell keeps what was hashed.
    assert rows[0]["text"].startswith("'=cmd")
    assert json.loads(rows[0]["payload"])["text"].startswith("=cmd")
    assert rows[0]["hash"] == records[0]["hash"] and rows[1]["prev_hash"] == records[0]["hash"]

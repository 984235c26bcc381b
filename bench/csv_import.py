"""Benchmark of the roster's CSV import on a 50,000-row file (``python -m bench.csv_import``).

Starts the embedded PostgreSQL, migrates a policy database, writes a CSV of ``--rows`` members (teams,
managers, every column), and times, in-process and through the same ``csv_import.run`` the REST route
calls: a dry run, the first apply (every member created, one ``MemberUpserted`` each in the outbox, in
the same transaction), and the same file applied again (nothing changes). The ceiling, measured on the
same database in the same run, is a bare multi-row INSERT of the same members with no checks and no
events. Results are appended to ``bench/results/csv_import.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from condividi.db import Database, utcnow
from condividi.devstack.infra import LocalPostgres
from condividi.migrations import upgrade
from services.policy import csv_import
from services.policy.models import Member

RESULTS = Path(__file__).parent / "results" / "csv_import.jsonl"
TEAMS = ["Sales", "Marketing", "Engineering", "Support", "Finance", "People", "Legal", "Operations"]
CITIES = [
    ("Milano", "it-IT", "Europe/Rome"),
    ("London", "en-GB", "Europe/London"),
    ("Berlin", "de-DE", "Europe/Berlin"),
]


def make_csv(rows: int) -> bytes:
    out = io.StringIO()
    out.write("email,name,teams,location,language,time_zone,title,manager_email,roles\n")
    for n in range(rows):
        city, language, zone = CITIES[n % len(CITIES)]
        teams = f"{TEAMS[n % len(TEAMS)]};{TEAMS[(n // 7) % len(TEAMS)]}"
        # Every 50th person manages the next 49.
        manager = "" if n % 50 == 0 else f"person{n - n % 50}@acme.example"
        roles = "employee;manager" if n % 50 == 0 else "employee"
        out.write(
            f"person{n}@acme.example,Person {n},{teams},{city},{language},{zone},Title {n % 40},{manager},{roles}\n"
        )
    return out.getvalue().encode()


async def bare_insert(db: Database, rows: int) -> float:
    org = uuid.uuid4()
    now = utcnow()
    values = [
        {
            "id": uuid.uuid4(),
            "org_id": org,
            "subject": f"person{n}@acme.example",
            "email": f"person{n}@acme.example",
            "name": f"Person {n}",
            "roles": ["employee"],
            "created_at": now,
        }
        for n in range(rows)
    ]
    started = time.perf_counter()
    async with db.unit_of_work() as uow:
        for start in range(0, rows, 2000):
            await uow.session.execute(insert(Member), values[start : start + 2000])
    return time.perf_counter() - started


async def measure(url: str, rows: int) -> dict[str, object]:
    db = Database(url, producer="policy")
    raw = make_csv(rows)
    org = uuid.uuid4()
    try:
        timings: dict[str, float] = {}
        for step, dry_run in (("dry_run", True), ("first_apply", False), ("second_apply", False)):
            started = time.perf_counter()
            report = await csv_import.run(db, org, raw, dry_run=dry_run)
            timings[step] = time.perf_counter() - started
            assert not report.errors, report.errors[:3]
            if step == "first_apply":
                assert report.created == rows, report
            if step == "second_apply":
                assert report.unchanged == rows and report.created == report.updated == 0, report
        async with db.read() as session:
            events = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
        ceiling = await bare_insert(db, rows)
    finally:
        await db.dispose()
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.system()}",
        "rows": rows,
        "bytes": len(raw),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "rows_per_second": {k: round(rows / v) for k, v in timings.items()},
        "bare_insert_seconds": round(ceiling, 3),
        "bare_insert_rows_per_second": round(rows / ceiling),
        "first_apply_ratio_to_bare_insert": round(ceiling / timings["first_apply"], 3),
        "events_written": int(events),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as work:
        postgres = LocalPostgres(Path(work) / "pg", ephemeral=True)
        try:
            postgres.create_database("bench_policy")
            url = postgres.url("bench_policy")
            upgrade("policy", url)
            result = asyncio.run(measure(url, args.rows))
        finally:
            postgres.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as results:
        results.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

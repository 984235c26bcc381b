"""Benchmark of the near-duplicate check against the size of the window (``python -m bench.near_duplicates
[--quick]``).

Starts the embedded PostgreSQL and makes one policy database per window size, each holding one org of
233,000 employees with a window of remembered posts: 10,000, 100,000 and 1,000,000 posts (``--quick``:
1,000, 10,000, 100,000). A third of each window is variants of 200 campaign captions (each caption posted
by thousands of colleagues, with up to 40% of its MinHash values changed: the crowded buckets the guard
exists for), the rest distinct posts, on three networks. The captions' signatures are real sketches of
real texts; the other signatures are generated directly (random values, or a caption's with values
changed), which loads a million posts in minutes instead of sketching each.

After VACUUM ANALYZE (what autovacuum does after many inserts), it times ``near_duplicates.check`` (what
``decide_share`` calls: sketch the post, read the org's settings, look up the candidates and compare
their signatures) for the same 200 query posts, three rounds: half rewordings of campaign captions
(they land in crowded buckets and find a match), half new texts (they find nothing). Each query is
checked against the three windows in turn, the order rotating, so the other work on the shared machine
slows them alike. The figure is the median time of a check per window; the budget: the check at the
largest window costs at most 2x what it costs at the smallest (``ratio`` = smallest / largest >= 0.5).
The three databases share one server, so one buffer cache (PostgreSQL's default 128 MB): the largest
window's index does not fit in it, the smallest's does.
Appends one JSON line to ``bench/results/near_duplicates.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from sqlalchemy import text

from condividi.db import Database, utcnow
from condividi.devstack.infra import LocalPostgres
from condividi.migrations import upgrade
from services.policy import near_duplicates as nd

RESULTS = Path(__file__).parent / "results" / "near_duplicates.jsonl"
EMPLOYEES = 233_000
CAPTIONS = 200
NETWORKS = ("linkedin", "x", "facebook")
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
ROUNDS = 3
BUDGET = 0.5  # the largest window's check at most 2x the smallest's
_BATCH = 20_000
_BARE = text("SELECT 1")

_rng = random.Random(8)
_WORDS = [
    "".join(_rng.choice("abcdefghijklmnopqrstuvwxyzàèéìòù") for _ in range(_rng.randint(2, 10))) for _ in range(5000)
]


def sentence(rng: random.Random, words: int = 28) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def reword(rng: random.Random, caption: str) -> str:
    """An employee's light edit of a caption: a few words changed, a thought added."""
    words = caption.split()
    for _ in range(2):
        words[rng.randrange(len(words))] = rng.choice(_WORDS)
    return " ".join(words) + rng.choice(["", " Proud!", " So happy to share this."])


def perturbed(rng: np.random.Generator, signature: bytes, changed: float) -> bytes:
    values = np.frombuffer(signature, dtype="<u4").copy()
    picked = rng.random(values.size) < changed
    values[picked] = rng.integers(0, 2**32, size=int(picked.sum()), dtype=np.uint32)
    return values.astype("<u4").tobytes()


class Window:
    """Generates the window's posts and loads them with COPY, in the tables' own shape."""

    def __init__(self, org: uuid.UUID, captions: list[str]) -> None:
        self.org = org
        self.loaded = 0
        self.signatures: list[bytes] = []
        for caption in captions:
            sketched = nd.sketch(caption)
            assert sketched is not None
            self.signatures.append(sketched.signature)
        self.rng = np.random.default_rng(8)
        self.now = utcnow()

    def _post(self) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        share = uuid.uuid4()
        network = NETWORKS[int(self.rng.integers(len(NETWORKS)))]
        member = f"employee-{int(self.rng.integers(EMPLOYEES))}"
        posted_at = self.now - timedelta(seconds=float(self.rng.random()) * 29 * 86400)
        if self.rng.random() < 1 / 3:
            base = self.signatures[int(self.rng.integers(len(self.signatures)))]
            signature = perturbed(self.rng, base, float(self.rng.random()) * 0.4)
        else:
            signature = self.rng.integers(0, 2**32, size=nd.NUM_PERM, dtype=np.uint32).astype("<u4").tobytes()
        key = nd.member_key(member)
        post = (share, self.org, network, member, posted_at, signature)
        bands = [(bucket, posted_at, key, share) for bucket in nd.buckets(self.org, network, signature)]
        return post, bands

    async def grow_to(self, db: Database, size: int) -> float:
        """Loads posts up to ``size``. The secondary indexes are dropped during the load and built again
        after, from the definitions the migration created (a sorted build instead of millions of random
        inserts): the figure is the look-up, not the load."""
        started = time.perf_counter()
        async with db.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            indexes = await raw.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                "('near_duplicate_posts', 'near_duplicate_bands') AND indexname NOT LIKE '%pkey'"
            )
            for index in indexes:
                await raw.execute(f'DROP INDEX "{index["indexname"]}"')
            while self.loaded < size:
                count = min(_BATCH, size - self.loaded)
                posts, bands = [], []
                for _ in range(count):
                    post, its_bands = self._post()
                    posts.append(post)
                    bands += its_bands
                await raw.copy_records_to_table(
                    "near_duplicate_posts",
                    records=posts,
                    columns=["share_id", "org_id", "network", "member_id", "posted_at", "signature"],
                )
                await raw.copy_records_to_table(
                    "near_duplicate_bands",
                    records=bands,
                    columns=["bucket", "posted_at", "member_key", "share_id"],
                )
                self.loaded += count
            await raw.execute("SET maintenance_work_mem = '256MB'")
            for index in indexes:
                await raw.execute(index["indexdef"])
        # VACUUM as autovacuum would after so many inserts (PostgreSQL 13+ vacuums insert-only tables):
        # it sets the visibility map the index-only look-up relies on. Outside any transaction.
        _, options = db.engine.dialect.create_connect_args(db.engine.url)
        plain = await asyncpg.connect(**options)
        try:
            await plain.execute("VACUUM ANALYZE near_duplicate_posts")
            await plain.execute("VACUUM ANALYZE near_duplicate_bands")
        finally:
            await plain.close()
        return time.perf_counter() - started


async def time_checks(
    dbs: dict[int, Database], org: uuid.UUID, queries: list[tuple[str, str]], rounds: int
) -> tuple[dict[int, list[float]], list[float], dict[int, int]]:
    """Every query checked against every window in turn (the order rotating), then a bare round trip:
    the windows are measured in the same moments, so the other work on the shared machine slows them
    alike, and the bare round trip says how loaded the machine was."""
    sizes = sorted(dbs)
    checks: dict[int, list[float]] = {size: [] for size in sizes}
    found = dict.fromkeys(sizes, 0)
    bare: list[float] = []
    async with AsyncExitStack() as stack:
        sessions = {size: await stack.enter_async_context(dbs[size].read()) for size in sizes}
        for size in sizes:
            for member, post in queries[:20]:  # warm-up: statements prepared, the index's top in cache
                await nd.check(sessions[size], org, "linkedin", member, post, utcnow())
        for round_ in range(rounds):
            for n, (member, post) in enumerate(queries):
                shift = (n + round_) % len(sizes)
                for size in sizes[shift:] + sizes[:shift]:
                    started = time.perf_counter()
                    finding, _ = await nd.check(sessions[size], org, "linkedin", member, post, utcnow())
                    checks[size].append(time.perf_counter() - started)
                    found[size] += round_ == 0 and finding is not None
                started = time.perf_counter()
                await sessions[sizes[0]].execute(_BARE)
                bare.append(time.perf_counter() - started)
    return checks, bare, found


async def measure(urls: dict[int, str]) -> dict[str, Any]:
    rng = random.Random(42)
    captions = [sentence(rng) for _ in range(CAPTIONS)]
    queries = [
        (f"employee-{rng.randrange(EMPLOYEES)}", reword(rng, rng.choice(captions)) if n % 2 == 0 else sentence(rng))
        for n in range(QUERIES)
    ]
    org = uuid.uuid4()
    dbs = {size: Database(url, producer="policy", pool_size=2) for size, url in urls.items()}
    sizes = sorted(dbs)
    per_size: dict[str, Any] = {}
    try:
        loads = {}
        for size in sizes:
            loads[size] = await Window(org, captions).grow_to(dbs[size], size)
            print(json.dumps({"window_posts": size, "load_seconds": round(loads[size], 1)}), flush=True)
        checks, bare, found = await time_checks(dbs, org, queries, ROUNDS)
        for size in sizes:
            ordered = sorted(checks[size])
            per_size[str(size)] = {
                "median_ms": round(statistics.median(ordered) * 1000, 3),
                "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
                "matches_found": found[size],
                "load_seconds": round(loads[size], 1),
            }
            print(json.dumps({"window_posts": size, **per_size[str(size)]}), flush=True)
        async with dbs[sizes[-1]].read() as session:
            bands = (await session.execute(text("SELECT count(*) FROM near_duplicate_bands"))).scalar_one()
    finally:
        for db in dbs.values():
            await db.dispose()
    smallest, largest = per_size[str(sizes[0])], per_size[str(sizes[-1])]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.system()}",
        "figure": f"near-duplicate check, window of {sizes[-1]:,} vs {sizes[0]:,} posts",
        "employees": EMPLOYEES,
        "queries": QUERIES * ROUNDS,
        "band_rows_largest": int(bands),
        "sizes": per_size,
        "bare_round_trip_ms": round(statistics.median(bare) * 1000, 3),
        # run.py's table: checks per second at the smallest window (the ceiling) and at the largest.
        "ceiling": round(1000 / smallest["median_ms"], 1),
        "real": round(1000 / largest["median_ms"], 1),
        "growth": round(largest["median_ms"] / smallest["median_ms"], 3),
        "ratio": round(smallest["median_ms"] / largest["median_ms"], 3),
        "budget": BUDGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"windows of {', '.join(f'{s:,}' for s in QUICK_SIZES)}")
    options = parser.parse_args()
    sizes = QUICK_SIZES if options.quick else SIZES
    with tempfile.TemporaryDirectory(prefix="near-duplicates-bench-") as work:
        postgres = LocalPostgres(Path(work) / "pg", ephemeral=True)
        try:
            urls = {}
            for size in sizes:
                postgres.create_database(f"bench_policy_{size}")
                urls[size] = postgres.url(f"bench_policy_{size}")
                upgrade("policy", urls[size])
            result = asyncio.run(measure(urls))
        finally:
            postgres.stop()
    result["quick"] = options.quick
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as results:
        results.write(json.dumps(result) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

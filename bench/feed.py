"""Benchmark of the targeted, ranked feed at scale: ``GET /api/v1/feed``'s first page for one member of an
org of 233,000 members (rows in content's roster copy, with teams, locations, languages) with 10,000
live items (a mix of audiences, pins and campaigns, some already shared by the member), against the
ceiling of the same route, same server and flags, for a member of an org with 6 items and no audiences.
Both alternated with wrk.

Budget: the big org's first page at least 0.5x the small one's: targeting and ranking cost at most half
the throughput whatever the org's size. ``EXPLAIN ANALYZE`` of the page's statement is printed (stderr)
and the indexes it uses are in the result. One JSON line on stdout; appended to
``bench/results/feed.jsonl``. ``--quick`` shortens the runs for ``make bench QUICK=1``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.stack import need_wrk, publish_items, ratio_summary, report, stack, summary, wait_ready, wrk
from condividi.audience import Profile
from services.content.feed import FeedQuery, feed_sql, member_arguments

BUDGET = 0.5
MEMBERS = 233_000
ITEMS = 10_000
TEAMS = 40
SMALL_ITEMS = 6
MEMBER = "m17"  # the measured member of the big org

# The big org, in SQL: every generated row varies with its number, so audiences, pins and campaigns mix.
_POPULATE = [
    """INSERT INTO teams_copy (org_id, team_id, name, updated_at)
       SELECT $1, md5('team' || n)::uuid, 'Team ' || n, now() FROM generate_series(0, {teams} - 1) n""",
    """INSERT INTO roster_copy (org_id, subject, roles, active, updated_at, team_ids, location, language)
       SELECT $1, 'm' || n,
              CASE WHEN n % 50 = 0 THEN ARRAY['employee', 'curator'] ELSE ARRAY['employee'] END,
              true, now(),
              ARRAY[md5('team' || (n % {teams}))::uuid, md5('team' || ((n * 7) % {teams}))::uuid],
              (ARRAY['Milan', 'Rome', 'Berlin', 'Paris', 'Madrid', 'London', 'Lisbon', 'Vienna', 'Zurich',
                     'Warsaw', 'Prague', 'Dublin'])[n % 12 + 1],
              (ARRAY['it-IT', 'de', 'fr', 'es', 'en-GB', 'pt-PT', 'pl', 'cs'])[n % 8 + 1]
       FROM generate_series(0, {members} - 1) n""",
    """INSERT INTO campaigns (id, org_id, name, goal, utm_campaign, required_disclosure, priority, archived_at,
                             created_by, created_at, updated_at, target_team_ids, target_locations,
                             target_languages, target_roles)
       SELECT md5('campaign' || n)::uuid, $1, 'Campaign ' || n, '', 'campaign-' || n, '', n % 7 - 2,
              CASE WHEN n = 19 THEN now() END, 'bench', now(), now(), '{{}}',
              CASE WHEN n % 5 = 1 THEN ARRAY['milan', 'rome'] ELSE '{{}}' END,
              CASE WHEN n % 4 = 2 THEN ARRAY['it', 'de'] ELSE '{{}}' END, '{{}}'
       FROM generate_series(0, 19) n""",
    """INSERT INTO content_items (id, org_id, title, url, summary, suggested_caption, status, created_by, created_at,
                                 published_at, updated_at, revision, topics, pinned_position, pinned_until,
                                 expires_at, campaign_id, target_team_ids, target_locations, target_languages,
                                 target_roles)
       SELECT md5('item' || n)::uuid, $1, 'Item ' || n || ': what the numbers say',
              'https://acme.example/news/' || n, repeat('Revenue grew in every region. ', 4),
              'Proud of our teams.', 'published', 'bench', now(), now() - n * interval '10 minutes', now(), 1,
              ARRAY[(ARRAY['results', 'people', 'product', 'events'])[n % 4 + 1]],
              CASE WHEN n % 1250 = 8 THEN n / 1250 END,
              CASE WHEN n % 2500 = 8 THEN now() - interval '1 day' END,
              CASE WHEN n % 97 = 0 THEN now() - interval '1 hour' END,
              CASE WHEN n % 10 < 3 THEN md5('campaign' || (n % 20))::uuid END,
              CASE WHEN n % 10 IN (3, 4) THEN ARRAY[md5('team' || (n % {teams}))::uuid,
                                                    md5('team' || ((n + 1) % {teams}))::uuid]
                   ELSE '{{}}' END,
              CASE WHEN n % 10 = 5 THEN ARRAY[(ARRAY['milan', 'berlin', 'paris'])[n % 3 + 1]] ELSE '{{}}' END,
              CASE WHEN n % 10 = 6 THEN ARRAY[(ARRAY['it', 'de', 'en'])[n % 3 + 1]] ELSE '{{}}' END,
              CASE WHEN n % 20 = 7 THEN ARRAY['curator'] ELSE '{{}}' END
       FROM generate_series(0, {items} - 1) n""",
    """INSERT INTO member_shares (org_id, subject, content_id, shared_at)
       SELECT $1, $2, md5('item' || (n * 13))::uuid, now() FROM generate_series(0, 49) n""",
]


async def populate(database_url: str, org: uuid.UUID, small_org: uuid.UUID) -> list[str]:
    """Fills the big org and puts both measured members on the roster copy; the plan of the big org's
    first page, from EXPLAIN ANALYZE."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in _POPULATE:
            sql = statement.format(teams=TEAMS, members=MEMBERS, items=ITEMS)
            await connection.execute(sql, *((org, MEMBER) if "$2" in sql else (org,)))
        await connection.execute(
            "INSERT INTO roster_copy (org_id, subject, roles, active, updated_at) "
            "VALUES ($1, 'bench-employee', ARRAY['employee'], true, now())",
            small_org,
        )
        await connection.execute("ANALYZE")
        row = await connection.fetchrow(
            "SELECT team_ids, location, language FROM roster_copy WHERE org_id = $1 AND subject = $2", org, MEMBER
        )
        assert row is not None
        profile = Profile.of(row["team_ids"], row["location"], row["language"], ["employee"])
        sql, args = feed_sql(FeedQuery(limit=20), member_arguments(org, MEMBER, profile, datetime.now(UTC)))
        # Twice: the first warms the cache, the second is the plan a steady feed runs.
        for _ in range(2):
            plan = [r[0] for r in await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)]
        return plan
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each; the median counts")
    parser.add_argument("--quick", action="store_true", help="4 s x 2 rounds")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.rounds = 4, 2
    need_wrk()

    with stack() as running:
        content = running.start_service("content")
        wait_ready(content)
        small_org, org = uuid.uuid4(), uuid.uuid4()
        publish_items(content, running.token(small_org, "curator", subject="bench-curator"), SMALL_ITEMS)
        plan = asyncio.run(populate(running.postgres.url("content"), org, small_org))
        print("\n".join(plan), file=sys.stderr)
        small = {"Authorization": f"Bearer {running.token(small_org, 'employee')}"}
        member = {"Authorization": f"Bearer {running.token(org, 'employee', subject=MEMBER)}"}
        feed_url = f"{content}/api/v1/feed"
        for headers, expected in ((small, SMALL_ITEMS), (member, 20)):
            page = httpx.get(feed_url, headers=headers)
            page.raise_for_status()
            assert len(page.json()["items"]) == expected, page.text
        first = httpx.get(feed_url, headers=member).json()["items"]
        pinned = sum(1 for i in first if i["pinned"])

        for headers in (small, member):  # warm-up: pools, caches, prepared statements
            wrk(feed_url, seconds=2, connections=options.connections, headers=headers)
        pairs: list[tuple[float, float]] = []
        for _ in range(options.rounds):
            top = wrk(feed_url, seconds=options.seconds, connections=options.connections, headers=small)
            real = wrk(feed_url, seconds=options.seconds, connections=options.connections, headers=member)
            pairs.append((real, top))

    execution = next((line for line in plan if line.startswith("Execution Time")), "")
    report(
        "feed",
        {
            "figure": f"REST feed, first page, {MEMBERS:,} members and {ITEMS:,} live items vs {SMALL_ITEMS} items",
            "load": f"wrk -t1 -c{options.connections} -d{options.seconds}s x {options.rounds} rounds",
            "ceiling_rps": summary([c for _, c in pairs]),
            "real_rps": summary([r for r, _ in pairs]),
            **ratio_summary(pairs),
            "budget": BUDGET,
            "pinned_on_first_page": pinned,
            "indexes_used": sorted(set(re.findall(r"using (\w+)", " ".join(plan), flags=re.IGNORECASE))),
            "plan_execution_ms": float(execution.split(":")[1].split()[0]) if execution else None,
        },
    )


if __name__ == "__main__":
    main()

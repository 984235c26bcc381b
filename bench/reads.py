"""Benchmark of the read path: the content service's feed (``GET /api/v1/feed``, six published items,
one employee's token) against a FastAPI route answering the same page from memory
(``bench/feed_ceiling.py``), both under the same uvicorn flags, alternated with wrk.

Budget: the feed at least 0.3x the in-memory route (issue 11). One JSON line on stdout; appended to
``bench/results/reads.jsonl``. ``--quick`` shortens the runs for ``make bench QUICK=1``.
"""

from __future__ import annotations

import argparse
import json
import uuid

import httpx

from bench.stack import need_wrk, publish_items, ratio_summary, report, stack, summary, wait_ready, wrk

BUDGET = 0.3
ITEMS = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each; the median counts")
    parser.add_argument("--quick", action="store_true", help="4 s x 2 rounds")
    parser.add_argument("--hold", action="store_true", help="keep the stack up, for a profiler; no result")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.rounds = 4, 2
    need_wrk()

    with stack() as running:
        content = running.start_service("content")
        wait_ready(content)
        org = uuid.uuid4()
        publish_items(content, running.token(org, "curator", subject="bench-curator"), ITEMS)
        headers = {"Authorization": f"Bearer {running.token(org, 'employee')}"}
        feed_url = f"{content}/api/v1/feed"
        page = httpx.get(feed_url, headers=headers)
        page.raise_for_status()
        assert len(page.json()["items"]) == ITEMS, page.text
        page_file = running.work / "feed.json"
        page_file.write_text(page.text)
        ceiling = running.start("ceiling", {"BENCH_FEED_PAGE": str(page_file)}, module="bench.feed_ceiling:app")
        wait_ready(ceiling, "/api/v1/feed")
        ceiling_url = f"{ceiling}/api/v1/feed"
        same = httpx.get(ceiling_url).json()
        assert same == page.json(), "the ceiling must answer the same page"

        for url in (ceiling_url, feed_url):  # warm-up: pools, caches, first-request costs
            wrk(url, seconds=2, connections=options.connections, headers=headers)
        pairs: list[tuple[float, float]] = []
        for _ in range(options.rounds):
            top = wrk(ceiling_url, seconds=options.seconds, connections=options.connections, headers=headers)
            real = wrk(feed_url, seconds=options.seconds, connections=options.connections, headers=headers)
            pairs.append((real, top))
        if options.hold:
            print(json.dumps({"content_pid": running.pid("content"), "feed_url": feed_url, "headers": headers}))
            input("profiling: press Enter to stop the stack\n")
            return  # figures taken beside a profiler are not results

    report(
        "reads",
        {
            "figure": "REST feed (6 items) vs the same page from memory",
            "load": f"wrk -t1 -c{options.connections} -d{options.seconds}s x {options.rounds} rounds",
            "ceiling_rps": summary([c for _, c in pairs]),
            "real_rps": summary([r for r, _ in pairs]),
            **ratio_summary(pairs),
            "budget": BUDGET,
        },
    )


if __name__ == "__main__":
    main()

"""Benchmark of GraphQL through the gateway: the README's feed query (items with their stats) against
the direct REST call behind it (``GET /api/v1/feed``, same page size, same token, same data), both
loaded by wrk with the same connections, alternated.

The gateway's answer costs a GraphQL execution, a call to content and a batched call to metrics (each
verifying the token again), all on the same machine: the REST ceiling is the content service alone.
Budget: at least 0.5x (DESIGN.md). The same query without ``stats`` is measured too (no metrics call).
One JSON line on stdout; appended to ``bench/results/gateway.jsonl``. ``--quick`` for ``make bench QUICK=1``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import uuid

import httpx

from bench.stack import (
    cpu_seconds,
    need_wrk,
    publish_items,
    ratio_summary,
    report,
    stack,
    summary,
    wait_ready,
    wrk_run,
)

BUDGET = 0.5
PAGE = 5
# The README's query, as a frontend sends it.
WITH_STATS = (
    f"{{ feed(first: {PAGE}) {{ edges {{ node {{ id title stats {{ shares clicks uniqueClicks potentialReach }} }} }}"
    " pageInfo { hasNextPage endCursor } } }"
)
# The REST call, the GraphQL query with stats, the same without stats.
KINDS = ("rest", "stats", "plain")
WITHOUT_STATS = f"{{ feed(first: {PAGE}) {{ edges {{ node {{ id title }} }} pageInfo {{ hasNextPage endCursor }} }} }}"


def post_script(query: str) -> str:
    body = json.dumps({"query": query})
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Accept"] = "application/graphql-response+json"\n'
    )


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
        metrics = running.start_service("metrics")
        gateway = running.start(
            "gateway",
            {
                "CONTENT_SERVICE_URL": content,
                "METRICS_SERVICE_URL": metrics,
                # Not called by the feed query; the gateway only needs an address for them.
                "POLICY_SERVICE_URL": "http://127.0.0.1:9",
                "SHARING_SERVICE_URL": "http://127.0.0.1:9",
            },
        )
        for url in (content, metrics):
            wait_ready(url)
        wait_ready(gateway, "/healthz")
        org = uuid.uuid4()
        publish_items(content, running.token(org, "curator", subject="bench-curator"), PAGE + 1)
        headers = {"Authorization": f"Bearer {running.token(org, 'employee')}"}
        rest_url = f"{content}/api/v1/feed?limit={PAGE}"
        graphql_url = f"{gateway}/graphql"
        scripts = {}
        for name, query in (("stats", WITH_STATS), ("plain", WITHOUT_STATS)):
            answer = httpx.post(graphql_url, headers=headers, json={"query": query})
            answer.raise_for_status()
            body = answer.json()
            assert "errors" not in body and len(body["data"]["feed"]["edges"]) == PAGE, answer.text
            scripts[name] = running.work / f"{name}.lua"
            scripts[name].write_text(post_script(query))
        assert len(httpx.get(rest_url, headers=headers).json()["items"]) == PAGE

        pids = {name: running.pid(name) for name in ("gateway", "content", "metrics")}
        # CPU microseconds per request of each process, per kind of run, one list entry a round.
        cpu: dict[str, dict[str, list[float]]] = {kind: {name: [] for name in pids} for kind in KINDS}

        def load(kind: str) -> float:
            before = cpu_seconds(pids)
            rate, done = wrk_run(
                graphql_url if kind in scripts else rest_url,
                seconds=options.seconds,
                connections=options.connections,
                headers=headers,
                script=scripts.get(kind),
            )
            after = cpu_seconds(pids)
            for name in pids:
                cpu[kind][name].append((after[name] - before[name]) * 1e6 / max(done, 1))
            return rate

        for kind in KINDS:  # warm-up
            wrk_run(
                graphql_url if kind in scripts else rest_url,
                seconds=2,
                connections=options.connections,
                headers=headers,
                script=scripts.get(kind),
            )
        with_stats: list[tuple[float, float]] = []
        without: list[tuple[float, float]] = []
        for _ in range(options.rounds):
            rest = load("rest")
            with_stats.append((load("stats"), rest))
            without.append((load("plain"), rest))
        if options.hold:
            print(
                json.dumps(
                    {
                        "gateway_pid": running.pid("gateway"),
                        "content_pid": running.pid("content"),
                        "metrics_pid": running.pid("metrics"),
                        "graphql_url": graphql_url,
                        "script": str(scripts["stats"]),
                        "headers": headers,
                    }
                )
            )
            input("profiling: press Enter to stop the stack\n")
            return  # figures taken beside a profiler are not results

    plain = ratio_summary(without)
    # The steadier figure on a shared machine: CPU per request does not depend on the share of the cores
    # the benchmark got. cpu_ratio is the ratio the request rates would have if each side had a core of
    # its own: the REST call's CPU (content's) over the GraphQL query's (gateway, content and metrics).
    per_request = {
        kind: {name: round(statistics.median(values), 1) for name, values in cpu[kind].items()} for kind in KINDS
    }
    rest_cpu = per_request["rest"]["content"]
    report(
        "gateway",
        {
            "figure": f"GraphQL feed with stats ({PAGE} items) via the gateway vs the REST feed",
            "load": f"wrk -t1 -c{options.connections} -d{options.seconds}s x {options.rounds} rounds",
            "ceiling_rps": summary([r for _, r in with_stats]),
            "real_rps": summary([g for g, _ in with_stats]),
            **ratio_summary(with_stats),
            "budget": BUDGET,
            "without_stats_rps": summary([g for g, _ in without]),
            "without_stats_ratio": plain["ratio"],
            "cpu_us_per_request": per_request,
            "cpu_ratio": round(rest_cpu / sum(per_request["stats"].values()), 3),
            "without_stats_cpu_ratio": round(rest_cpu / sum(per_request["plain"].values()), 3),
        },
    )


if __name__ == "__main__":
    main()

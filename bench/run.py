"""Every benchmark, one table (``make bench``; ``make bench QUICK=1`` for the short runs).

Each benchmark is a module of its own, run through its command line: ``bench/<name>.py`` with
``--quick`` when it has it (else shorter ``--seconds``/``--rounds``), its result read from the JSON
object it prints. So the benchmarks change independently; this only needs each result to carry
``ratio`` and ``budget`` (and, for the redirect, ``clicks_lost``).

Prints one table (figure, ceiling, measured, ratio with its spread, budget, pass/fail), appends the run
(commit, the machine's cores, every result) to ``bench/results/runs.jsonl``, writes the table to
``bench/results/latest.md`` and, after a full run, into bench/README.md between its markers. Exits 1
when a budget is not met or a benchmark failed to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.stack import RESULTS, ROOT, git_commit, machine

# In the order they run; a module that does not exist (yet) is skipped with a note.
BENCHMARKS = ("reads", "feed", "gateway", "redirect", "fold", "near_duplicates")
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- bench:latest:begin -->", "<!-- bench:latest:end -->"
# Where each benchmark's ceiling and measured rate are, by the names it uses.
CEILING_KEYS = ("ceiling_rps", "bare_asgi_302_rps", "raw_rate", "raw_events_per_second", "raw_consume_eps", "ceiling")
REAL_KEYS = ("real_rps", "redirect_rps", "fold_rate", "fold_events_per_second", "fold_eps", "real")


def last_json_object(output: str) -> dict[str, Any] | None:
    """The last JSON object printed, on one line or over several (``json.dumps(..., indent=2)``)."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    start = output.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            start = output.find("{", start + 1)
            continue
        if isinstance(value, dict) and "ratio" in value:
            found = value
        start = output.find("{", end)
    return found


def options_for(name: str, quick: bool) -> list[str]:
    if not quick:
        return []
    usage = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    if "--quick" in usage:
        return ["--quick"]
    return [flag for flag, value in (("--seconds", "4"), ("--rounds", "2")) if flag in usage for flag in (flag, value)]


def run_one(name: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{name}", *options_for(name, quick)]
    print(f"-- {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.monotonic() - started)
    result = last_json_object(done.stdout)
    if done.returncode != 0 or result is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        return {"benchmark": name, "error": f"exit status {done.returncode}", "seconds": seconds}
    return {"benchmark": name, **result, "seconds": seconds}


def figure(result: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = result.get(key)
        if isinstance(value, dict):
            value = value.get("median")
        if isinstance(value, int | float):
            return f"{value:,.0f}/s"
    return "-"


def passed(result: dict[str, Any]) -> bool:
    if "error" in result:
        return False
    return bool(result["ratio"] >= result["budget"] and result.get("clicks_lost", 0) == 0)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | figure | ceiling | measured | ratio (min-max) | budget | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['benchmark']} | did not run: {r['error']} | - | - | - | - | FAIL |")
            continue
        spread = f" ({r['ratio_min']}-{r['ratio_max']})" if "ratio_min" in r else ""
        extra = f"; clicks lost: {r['clicks_lost']}" if "clicks_lost" in r else ""
        lines.append(
            f"| {r['benchmark']} | {r.get('figure', r['benchmark'])}{extra} | {figure(r, CEILING_KEYS)} "
            f"| {figure(r, REAL_KEYS)} | {r['ratio']}{spread} | >= {r['budget']} | {'pass' if passed(r) else 'FAIL'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (under 3 minutes in all)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    options = parser.parse_args()
    started = time.monotonic()
    results = []
    for name in options.only or BENCHMARKS:
        if not (ROOT / "bench" / f"{name}.py").exists():
            print(f"-- bench/{name}.py does not exist yet; skipped", flush=True)
            continue
        results.append(run_one(name, options.quick))
    about = machine()
    heading = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {git_commit()}, {about['machine']}, "
        f"{'QUICK=1' if options.quick else 'full'} run in {round(time.monotonic() - started)} s, "
        f"load average {about['load_average']} at the end (other work on the machine)"
    )
    text = f"{heading}\n\n{table(results)}\n"
    print(f"\n{text}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "runs.jsonl").open("a") as out:
        line = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": git_commit(), **about}
        out.write(json.dumps({**line, "quick": options.quick, "results": results}) + "\n")
    (RESULTS / "latest.md").write_text(text)
    readme = README.read_text()
    if not options.quick and not options.only and BEGIN in readme and END in readme:
        head, _, rest = readme.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
    sys.exit(0 if results and all(passed(r) for r in results) else 1)


if __name__ == "__main__":
    main()

"""Benchmark of the click redirect ``GET /r/{code}`` (``make bench``).

Starts PostgreSQL, the Tansu broker, the sharing and metrics services and a bare ASGI 302 responder,
all on this machine; publishes one share; then loads the bare responder and the real redirect in turn
with wrk (same connections, same duration, same uvicorn flags) and prints the ratio of their request
rates. Afterwards it waits for metrics to fold the clicks and reports how many, if any, were lost:
``lost = clicks the redirect recorded - clicks metrics counted``.

Load generator: wrk (Debian/Ubuntu: ``apt-get install wrk``; macOS: ``brew install wrk``).
Results are appended to ``bench/results/redirect.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from aiokafka import AIOKafkaProducer
from cryptography.fernet import Fernet

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision
from condividi.devstack import processes
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.devstack.jwks_server import serving_jwks
from condividi.events import new_envelope
from condividi.identity.dev_issuer import DevIssuer
from condividi.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "redirect.jsonl"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
# Beside processes.uvicorn_command's own: the fastest loop and parser, and quiet logs.
UVICORN_FLAGS = ["--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
BENCH_TUNING = {"LOG_LEVEL": "WARNING", "KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"}
BARE_MODULE = "bench.bare_redirect:app"


RSS_BUDGET_MB = 150


class RssPeaks:
    """Samples the resident memory of every process of the benchmark twice a second and keeps each one's
    peak: the processes it started (and theirs: sharing's click shipper) and PostgreSQL's (its largest
    one: the postmaster and each backend are processes of their own)."""

    def __init__(self, pg_data: Path) -> None:
        self.pg_data = str(pg_data)
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def name(process: psutil.Process) -> str:
        command = " ".join(process.cmdline())
        for marker, name in (
            ("bench.bare_redirect", "bare ASGI 302"),
            ("services.sharing.main", "sharing"),
            ("services.sharing.shipper", "click shipper"),
            ("services.metrics.main", "metrics"),
            ("tansu", "broker (Tansu)"),
        ):
            if marker in command:
                return name
        return str(process.name())

    def processes(self) -> list[tuple[str, psutil.Process]]:
        """(name, process) for each process of the system under test (not wrk)."""
        found: list[tuple[str, psutil.Process]] = []
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if process.name() != "wrk":
                    found.append((self.name(process), process))
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.name() == "postgres" and self.pg_data in " ".join(process.cmdline()):
                    # the postmaster and its backends, each a process of its own
                    found += [("postgres", p) for p in (process, *process.children())]
        return found

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user and system) used so far, by process name (PostgreSQL's processes summed)."""
        used: dict[str, float] = {}
        for name, process in self.processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used[name] = used.get(name, 0.0) + times.user + times.system
        return used

    def sample(self) -> None:
        for name, process in self.processes():
            try:
                rss = process.memory_info().rss / 2**20
            except psutil.Error:
                continue  # gone meanwhile
            label = "postgres (largest process)" if name == "postgres" else name
            self.peaks[label] = max(self.peaks.get(label, 0.0), rss)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def command(name: str, port: int) -> list[str]:
    """One of the five processes as the stack runs it, or the bare responder with the same flags."""
    if name == "bare":
        run = processes.uvicorn_command("sharing", port, extra=UVICORN_FLAGS)
        run[run.index(processes.PROCESSES["sharing"].module)] = BARE_MODULE
        return run
    return processes.uvicorn_command(name, port, extra=UVICORN_FLAGS)


def environments(wiring: processes.Wiring, names: list[str]) -> dict[str, dict[str, str]]:
    return {name: {**BENCH_TUNING, **processes.environment(name, wiring)} for name in names}


def start(name: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command(name, port),
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in processes.keys_set_per_process()}, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(url: str, path: str = "/readyz", within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready")


def wrk(url: str, *, seconds: int, connections: int) -> tuple[float, int, int]:
    """Requests per second, completed requests, and responses that were not 2xx/3xx."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H", f"User-Agent: {BROWSER}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(g) for g in errors.groups())
    return rate, done, failed


async def publish_events(bootstrap: str, org: uuid.UUID, content_id: str, url: str, namespace: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        event = new_envelope(
            ContentPublished(content_id=content_id, title="Bench", url=url),
            org_id=org,
            aggregate_id=content_id,
            producer="content",
        )
        await producer.send_and_wait(
            f"{namespace}.condividi.content", event.SerializeToString(), key=content_id.encode()
        )
    finally:
        await producer.stop()


async def approve(bootstrap: str, org: uuid.UUID, share_id: str, namespace: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        decision = ShareDecision(share_id=share_id, outcome=DecisionOutcome.DECISION_OUTCOME_APPROVED)
        event = new_envelope(decision, org_id=org, aggregate_id=share_id, producer="policy")
        await producer.send_and_wait(f"{namespace}.condividi.policy", event.SerializeToString(), key=share_id.encode())
    finally:
        await producer.stop()


def folded_clicks(metrics_url: str, content_id: str, auth: dict[str, str]) -> int:
    stats = httpx.get(f"{metrics_url}/api/v1/content-stats/{content_id}", headers=auth)
    return int(stats.json().get("clicks", 0)) if stats.status_code == 200 else 0


def settle(sharing_url: str, metrics_url: str, content_id: str, auth: dict[str, str], at_least: int) -> tuple[int, int]:
    """Waits until every click answered so far is written by sharing and folded by metrics (or two
    minutes pass), so that no run pays for the backlog of the one before; returns both counts."""
    deadline = time.monotonic() + 120
    recorded = folded = 0
    while time.monotonic() < deadline:
        recorded = server_counted_clicks(sharing_url)
        folded = folded_clicks(metrics_url, content_id, auth)
        if recorded >= at_least and folded >= recorded:
            time.sleep(0.2)  # and once more, for requests that were still in flight
            if server_counted_clicks(sharing_url) == recorded:
                break
        time.sleep(0.05)
    return recorded, folded


def server_counted_clicks(sharing_url: str, outcome: str = "counted") -> int:
    """Sharing's own count of clicks by outcome: "counted" (written to its outbox), "lost" (dropped)."""
    text = httpx.get(f"{sharing_url}/metrics").text
    match = re.search(rf'^clicks_total\{{outcome="{outcome}"\}} ([\d.e+]+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def commit() -> str:
    """The commit measured (with "+changes" when the work tree differs from it)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each; the median counts")
    parser.add_argument(
        "--outbox", action="store_true", help="clicks through the outbox as before the spool (for comparison)"
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)")

    work = Path(tempfile.mkdtemp(prefix="condividi-bench-"))
    postgres = LocalPostgres(work / "pg", ephemeral=True)
    kafka = LocalKafka(log_file=work / "kafka.log")
    processes_started: list[subprocess.Popen[bytes]] = []
    try:
        jwks_port = free_port()
        issuer = DevIssuer(work / "key.pem", issuer=f"http://127.0.0.1:{jwks_port}/dev-issuer", audience="condividi")
        with serving_jwks(issuer, jwks_port) as jwks_url:
            namespace = f"bench-{uuid.uuid4().hex[:6]}"
            ports = {"bare": free_port(), "sharing": free_port(), "metrics": free_port()}
            urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            for service in ("sharing", "metrics"):
                postgres.create_database(service)
                upgrade(service, postgres.url(service))
            wiring = processes.Wiring(
                kafka_bootstrap=kafka.bootstrap,
                oidc_issuer=issuer.issuer,
                oidc_audience="condividi",
                jwks_url=jwks_url,
                urls={name: urls[name] for name in ("sharing", "metrics")},
                database_urls={name: postgres.url(name) for name in ("sharing", "metrics")},
                public_base_url=urls["sharing"],
                click_hash_salt=uuid.uuid4().hex,
                secret_encryption_key=Fernet.generate_key().decode(),
                kafka_namespace=namespace,
                # Clicks go through the spool and the click shipper, as in production (--outbox: before).
                click_spool_dir=None if options.outbox else work / "clicks",
            )
            envs = environments(wiring, ["sharing", "metrics"])
            # wrk is one visitor clicking one link as fast as it can: with the repeat window and the rate
            # limits on, every request after the first would be filtered and the benchmark would measure
            # no counting at all. Off, every request is counted.
            envs["sharing"].update(
                CLICK_REPEAT_WINDOW_SECONDS="0",
                CLICK_RATE_PER_VISITOR_PER_MINUTE="0",
                CLICK_RATE_PER_LINK_PER_MINUTE="0",
            )
            processes_started.append(start("bare", ports["bare"], {}, work / "bare.log"))
            for name in ("sharing", "metrics"):
                processes_started.append(start(name, ports[name], envs[name], work / f"{name}.log"))
            wait_ready(urls["bare"], "/")
            wait_ready(urls["sharing"])
            wait_ready(urls["metrics"])

            org = uuid.uuid4()
            token = issuer.mint(subject="bench-employee", org_id=str(org), roles=["employee"])
            auth = {"Authorization": f"Bearer {token}"}
            content_id = str(uuid.uuid4())
            asyncio.run(publish_events(kafka.bootstrap, org, content_id, "https://acme.example/news", namespace))
            share = None
            for _ in range(200):
                response = httpx.post(
                    f"{urls['sharing']}/api/v1/shares",
                    headers=auth,
                    json={"content_id": content_id, "network": "x", "text": "Bench"},
                )
                if response.status_code == 202:
                    share = response.json()
                    break
                time.sleep(0.1)
            assert share is not None, "the share could not be created"
            asyncio.run(approve(kafka.bootstrap, org, share["id"], namespace))
            for _ in range(200):
                # The tracking link is shown once the share is published.
                share = httpx.get(f"{urls['sharing']}/api/v1/shares/{share['id']}", headers=auth).json()
                if share["status"] == "published":
                    break
                time.sleep(0.1)
            link = share["tracking_url"]

            # Warm-up: connection pools, the link cache, the JIT-free but cache-hungry first requests.
            wrk(urls["bare"] + "/", seconds=2, connections=options.connections)
            _, warm_done, _ = wrk(link, seconds=2, connections=options.connections)
            bare_rates, redirect_rates, end_to_end_rates = [], [], []
            sent, failed = warm_done, 0
            settle(urls["sharing"], urls["metrics"], content_id, auth, sent)
            memory = RssPeaks(work / "pg")
            memory.start()
            # CPU microseconds per request, by process: robust where request rates are not (a machine
            # shared with other work gives the benchmark's processes a varying share of its cores).
            cpu_us: dict[str, list[float]] = {}
            for _ in range(options.rounds):
                before = memory.cpu_seconds()
                rate, bare_done, _ = wrk(urls["bare"] + "/", seconds=options.seconds, connections=options.connections)
                bare_rates.append(rate)
                during_bare = memory.cpu_seconds()
                rate, done, bad = wrk(link, seconds=options.seconds, connections=options.connections)
                redirect_rates.append(rate)
                during_redirect = memory.cpu_seconds()
                sent += done
                failed += bad
                # Until metrics has folded the run's clicks: the redirect may run ahead of the pipeline
                # behind it for a while, so the end-to-end rate counts that catching up too.
                started = time.monotonic()
                settle(urls["sharing"], urls["metrics"], content_id, auth, sent)
                end_to_end_rates.append(done / (options.seconds + time.monotonic() - started))
                after = memory.cpu_seconds()
                bare_cpu = during_bare["bare ASGI 302"] - before["bare ASGI 302"]
                cpu_us.setdefault("bare ASGI 302", []).append(bare_cpu / bare_done * 1e6)
                sharing_cpu = during_redirect["sharing"] - during_bare["sharing"]
                cpu_us.setdefault("sharing (the redirect)", []).append(sharing_cpu / done * 1e6)
                for name in after:
                    if name not in ("sharing", "bare ASGI 302"):
                        # the rest of the pipeline, from the redirect run to the last click folded
                        used = after[name] - during_bare.get(name, 0.0)
                        cpu_us.setdefault(name, []).append(used / done * 1e6)
            recorded, folded = settle(urls["sharing"], urls["metrics"], content_id, auth, sent)
            memory.stop()
            dropped = server_counted_clicks(urls["sharing"], "lost")

        bare = statistics.median(bare_rates)
        real = statistics.median(redirect_rates)
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "commit": commit(),
            "load": f"wrk -t1 -c{options.connections} -d{options.seconds}s x {options.rounds} rounds",
            "click_path": "outbox" if options.outbox else "spool",
            "bare_asgi_302_rps": round(bare),
            "redirect_rps": round(real),
            "ratio": round(real / bare, 3),
            "budget": 0.6,
            "end_to_end_clicks_per_second": round(statistics.median(end_to_end_rates)),
            "end_to_end_ratio": round(statistics.median(end_to_end_rates) / bare, 3),
            "clicks_completed_by_wrk": sent,
            "clicks_recorded_by_sharing": recorded,
            "clicks_folded_by_metrics": folded,
            # Answered with a redirect but not counted by metrics (requests still in flight when a wrk
            # run ends are answered and counted without wrk seeing them, hence the floor at 0), plus
            # any that sharing itself had to drop.
            "clicks_lost": max(0, sent - failed - folded) + dropped,
            "clicks_dropped_by_sharing": dropped,
            "failed_responses": failed,
            # Each process's peak resident memory while the redirect runs and the pipeline catches up.
            "cpu_us_per_request": {name: round(statistics.median(v), 1) for name, v in sorted(cpu_us.items())},
            # The bare responder's CPU per request over the redirect process's: the request-rate ratio
            # each would reach with a core of its own and nothing else running.
            "cpu_ratio": round(
                statistics.median(cpu_us["bare ASGI 302"]) / statistics.median(cpu_us["sharing (the redirect)"]), 3
            ),
            "rss_peak_mb": {name: round(mb, 1) for name, mb in sorted(memory.peaks.items())},
            "rss_budget_mb": RSS_BUDGET_MB,
            "rss_within_budget": all(mb < RSS_BUDGET_MB for mb in memory.peaks.values()),
        }
        print(json.dumps(result, indent=2))
        print(
            f"\nredirect / bare ASGI 302 = {result['ratio']} (budget >= 0.6); end to end, clicks folded by metrics "
            f"/ bare = {result['end_to_end_ratio']}; CPU per request, bare / redirect = {result['cpu_ratio']}; "
            f"clicks lost: {result['clicks_lost']}; peak RSS (MB): "
            + ", ".join(f"{name} {mb}" for name, mb in result["rss_peak_mb"].items())  # type: ignore[union-attr]
        )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(result) + "\n")
    finally:
        for process in processes_started:
            process.terminate()
        for process in processes_started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        kafka.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

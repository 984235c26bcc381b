"""What the read-path and gateway benchmarks share: a throwaway PostgreSQL, Tansu broker and issuer,
the services started as uvicorn processes with the redirect benchmark's flags, wrk, and one result line.

Each benchmark prints exactly one JSON object on its last stdout line (``bench/run.py`` reads it) and
appends it to ``bench/results/<name>.jsonl``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from condividi.devstack import processes
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.devstack.jwks_server import serving_jwks
from condividi.identity.dev_issuer import DevIssuer
from condividi.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--no-access-log",
    "--log-level",
    "warning",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
]
SERVICES = ("content", "policy", "sharing", "metrics")


def git_commit() -> str:
    """The commit measured, with ``+changes`` when tracked files differ from it (the figure then
    describes code no commit holds)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if changed else commit


def machine() -> dict[str, object]:
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "cores": os.cpu_count(),
        # Other work on the machine while the benchmark ran (1-minute load average at the start).
        "load_average": round(os.getloadavg()[0], 2),
    }


def wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str], script: Path | None = None) -> float:
    """Requests per second; raises when a response was not 2xx/3xx (a benchmark of errors is no
    benchmark)."""
    return wrk_run(url, seconds=seconds, connections=connections, headers=headers, script=script)[0]


def wrk_run(
    url: str, *, seconds: int, connections: int, headers: dict[str, str], script: Path | None = None
) -> tuple[float, int]:
    """Requests per second and requests completed; raises when a response was not 2xx/3xx."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise RuntimeError(f"{bad.group(1)} failed responses from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return rate, int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user and system) each process has used so far, by name."""
    used = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        used[name] = times.user + times.system
    return used


def summary(rates: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(rates)), "min": round(min(rates)), "max": round(max(rates))}


def ratio_summary(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """Median ratio of the real rate to the ceiling's, each round on its own (the two runs of a round
    are back to back, so they share the machine's mood), with the spread."""
    ratios = [real / ceiling for real, ceiling in pairs]
    return {
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
    }


def report(name: str, result: dict[str, object]) -> None:
    line: dict[str, object] = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
    }
    line.update(machine())
    line.update(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


def wait_ready(url: str, path: str = "/readyz", within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready")


@dataclass
class Stack:
    work: Path
    postgres: LocalPostgres
    kafka: LocalKafka
    issuer: DevIssuer
    jwks_url: str
    namespace: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:6]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    def common_env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "KAFKA_NAMESPACE": self.namespace,
            "OIDC_ISSUER": self.issuer.issuer,
            "OIDC_AUDIENCE": "condividi",
            "OIDC_JWKS_URL": self.jwks_url,
            "LOG_LEVEL": "WARNING",
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        }

    def start(self, name: str, env: dict[str, str] | None = None, *, module: str | None = None) -> str:
        """One of the stack's processes (its app named by condividi/devstack/processes.py), or, with
        ``module``, a benchmark's own ASGI app."""
        module = module or processes.PROCESSES[name].module
        port = free_port()
        log = (self.work / f"{name}.log").open("ab")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "uvicorn", module, "--port", str(port), *UVICORN_FLAGS],
                cwd=ROOT,
                env={**os.environ, **self.common_env(), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        self.urls[name] = f"http://127.0.0.1:{port}"
        return self.urls[name]

    def start_service(self, service: str, env: dict[str, str] | None = None) -> str:
        self.postgres.create_database(service)
        upgrade(service, self.postgres.url(service))
        return self.start(service, {"SERVICE_NAME": service, "DATABASE_URL": self.postgres.url(service), **(env or {})})

    def token(self, org: uuid.UUID, *roles: str, subject: str = "bench-employee") -> str:
        return self.issuer.mint(subject=subject, org_id=str(org), roles=list(roles))

    def pid(self, name: str) -> int:
        index = list(self.urls).index(name)
        return self.processes[index].pid


@contextmanager
def stack() -> Iterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="condividi-bench-"))
    postgres = LocalPostgres(work / "pg", ephemeral=True)
    kafka = LocalKafka(log_file=work / "kafka.log")
    running: Stack | None = None
    try:
        jwks_port = free_port()
        issuer = DevIssuer(work / "key.pem", issuer=f"http://127.0.0.1:{jwks_port}/dev-issuer", audience="condividi")
        with serving_jwks(issuer, jwks_port) as jwks_url:
            running = Stack(work, postgres, kafka, issuer, jwks_url)
            yield running
    finally:
        if running is not None:
            for process in running.processes:
                process.terminate()
            for process in running.processes:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        kafka.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)")


def publish_items(content_url: str, curator_token: str, count: int) -> list[dict[str, object]]:
    """``count`` published content items, created through the REST API as a curator would."""
    auth = {"Authorization": f"Bearer {curator_token}"}
    items = []
    for n in range(count):
        created = httpx.post(
            f"{content_url}/api/v1/content-items",
            headers=auth,
            json={
                "title": f"Quarterly results, part {n + 1}: what the numbers say",
                "url": f"https://acme.example/news/quarterly-{n + 1}",
                "summary": "Revenue grew in every region; the report explains where and why. " * 3,
                "suggested_caption": "Proud of what our teams achieved this quarter.",
            },
        )
        created.raise_for_status()
        published = httpx.post(f"{content_url}/api/v1/content-items/{created.json()['id']}/publish", headers=auth)
        published.raise_for_status()
        items.append(published.json())
    return items

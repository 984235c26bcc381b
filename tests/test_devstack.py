"""The ``make run`` launcher and ``make devtoken``, without PostgreSQL or Kafka: each process's
environment, ports, persisted secrets, signal handling, readiness, process-group shutdown (with
``sleep`` stand-ins, so still fast), and tokens the JWKS verifies."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet

from condividi.devstack import launcher
from condividi.devstack.infra import free_port
from condividi.devstack.launcher import (
    PER_PROCESS_KEYS,
    ProcessDiedError,
    ProcessSpec,
    RunningProcess,
    Secrets,
    StackConfig,
    build_env,
    process_specs,
)
from condividi.identity import devtoken
from condividi.identity.dev_issuer import DevIssuer

SERVICES = ("content", "policy", "sharing", "metrics")
ORG = "8b2d7f0e-3c1a-4f5e-9a6b-2d4c6e8f0a1b"


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig(
        specs=process_specs({}),
        database_urls={s: f"postgresql+asyncpg://postgres@/condividi_{s}?host=/tmp/pg" for s in SERVICES},
        kafka_bootstrap="127.0.0.1:19092",
        key_file=tmp_path / "dev-issuer" / "key.pem",
        secrets=Secrets(click_hash_salt="salt-1", secret_encryption_key=Fernet.generate_key().decode()),
    )


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated ``.data`` for devtoken: nothing read from the developer's real one or shell."""
    for name in ("DEV_ISSUER_KEY_FILE", "OIDC_ISSUER", "OIDC_AUDIENCE", "GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONDIVIDI_DATA_DIR", str(tmp_path))
    return tmp_path


# --- each process's environment ------------------------------------------------------------------


def test_default_topology() -> None:
    specs = {s.name: (s.module, s.port) for s in process_specs({})}
    assert specs == {
        "gateway": ("gateway.main:app", 8000),
        "content": ("services.content.main:app", 8001),
        "policy": ("services.policy.main:app", 8002),
        "sharing": ("services.sharing.main:app", 8003),
        "metrics": ("services.metrics.main:app", 8004),
    }


def test_each_service_gets_its_own_database_and_the_shared_settings(config: StackConfig) -> None:
    urls = set()
    for service in SERVICES:
        env = build_env(config.spec(service), config, {})
        assert env["SERVICE_NAME"] == service
        assert env["DATABASE_URL"] == config.database_urls[service]
        assert f"/condividi_{service}?" in env["DATABASE_URL"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
        assert env["OIDC_ISSUER"] == "http://localhost:8000/dev-issuer"
        assert env["OIDC_AUDIENCE"] == "condividi"
        assert env["OIDC_JWKS_URL"] == "http://localhost:8000/dev-issuer/jwks"
        urls.add(env["DATABASE_URL"])
    assert len(urls) == 4


def test_gateway_knows_the_services_and_the_issuer_key_but_has_no_database(config: StackConfig) -> None:
    env = build_env(config.spec("gateway"), config, {"DATABASE_URL": "postgresql://server/postgres"})
    assert env["SERVICE_NAME"] == "gateway"
    assert "DATABASE_URL" not in env  # the server-level URL from the shell must not reach it
    assert env["DEV_ISSUER_KEY_FILE"] == str(config.key_file)
    assert env["CONTENT_SERVICE_URL"] == "http://127.0.0.1:8001"
    assert env["POLICY_SERVICE_URL"] == "http://127.0.0.1:8002"
    assert env["SHARING_SERVICE_URL"] == "http://127.0.0.1:8003"
    assert env["METRICS_SERVICE_URL"] == "http://127.0.0.1:8004"
    assert "CLICK_HASH_SALT" not in env and "SECRET_ENCRYPTION_KEY" not in env


def test_only_sharing_gets_the_link_settings_and_secrets(config: StackConfig) -> None:
    env = build_env(config.spec("sharing"), config, {})
    assert env["PUBLIC_BASE_URL"] == "http://localhost:8003"
    assert env["CONTENT_SERVICE_URL"] == config.spec("content").url
    assert env["CLICK_HASH_SALT"] == "salt-1"
    Fernet(env["SECRET_ENCRYPTION_KEY"].encode())  # a usable key, not just any string
    for other in ("gateway", "content", "policy", "metrics"):
        leaked = {"CLICK_HASH_SALT", "SECRET_ENCRYPTION_KEY"} & build_env(config.spec(other), config, {}).keys()
        assert not leaked, f"{other} got {leaked}"
    # policy measures live checks with a tracking link of the same host
    assert build_env(config.spec("policy"), config, {})["PUBLIC_BASE_URL"] == env["PUBLIC_BASE_URL"]


def test_inherited_environment_passes_through_except_per_process_keys(config: StackConfig) -> None:
    base = {key: "from-the-shell" for key in PER_PROCESS_KEYS} | {"PATH": "/usr/bin", "LOG_LEVEL": "DEBUG"}
    for spec in config.specs:
        env = build_env(spec, config, base)
        assert env["PATH"] == "/usr/bin" and env["LOG_LEVEL"] == "DEBUG"
        assert env["PYTHONUNBUFFERED"] == "1"
        assert "from-the-shell" not in {env[k] for k in PER_PROCESS_KEYS if k in env}, spec.name


def test_ports_are_overridable_and_urls_follow(config: StackConfig) -> None:
    specs = process_specs({"GATEWAY_PORT": "9100", "SHARING_PORT": "9103"})
    assert [s.port for s in specs] == [9100, 8001, 8002, 9103, 8004]
    moved = StackConfig(specs, config.database_urls, config.kafka_bootstrap, config.key_file, config.secrets)
    gateway = build_env(moved.spec("gateway"), moved, {})
    assert gateway["OIDC_JWKS_URL"] == "http://localhost:9100/dev-issuer/jwks"
    assert gateway["SHARING_SERVICE_URL"] == "http://127.0.0.1:9103"
    assert build_env(moved.spec("sharing"), moved, {})["PUBLIC_BASE_URL"] == "http://localhost:9103"


@pytest.mark.parametrize("environ", [{"POLICY_PORT": "eighty"}, {"POLICY_PORT": "8001"}])
def test_bad_port_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(launcher.LauncherError, match=r"POLICY_PORT|share a port"):
        process_specs(environ)


def test_uvicorn_command() -> None:
    command = launcher.uvicorn_command(ProcessSpec("content", "services.content.main:app", 8001))
    assert command[:4] == [sys.executable, "-m", "uvicorn", "services.content.main:app"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8001"
    assert command[command.index("--timeout-graceful-shutdown") + 1] == "10"
    assert "--no-access-log" in command


# --- files and ports -----------------------------------------------------------------------------


def test_secrets_are_generated_once_kept_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = launcher.load_or_create_secrets(path)
    assert len(first.click_hash_salt) >= 32
    Fernet(first.secret_encryption_key.encode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert launcher.load_or_create_secrets(path) == first
    assert launcher.load_or_create_secrets(tmp_path / "other.json") != first


def test_damaged_secrets_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("{")
    with pytest.raises(launcher.LauncherError, match="damaged"):
        launcher.load_or_create_secrets(path)


def test_missing_migration_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    for service in ("content", "policy", "sharing"):
        (tmp_path / "services" / service / "migrations").mkdir(parents=True)
    with pytest.raises(launcher.LauncherError, match=r"services/metrics/migrations"):
        launcher.check_migration_folders()
    (tmp_path / "services" / "metrics" / "migrations").mkdir(parents=True)
    launcher.check_migration_folders()


def test_busy_ports_are_detected_before_anything_starts() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert not launcher.port_is_free(busy)
        assert launcher.choose_kafka_port(busy) is None
        with pytest.raises(launcher.LauncherError, match=f"content \\({busy}"):
            launcher.check_ports([ProcessSpec("content", "m:app", busy)])
    assert launcher.port_is_free(busy)
    assert launcher.choose_kafka_port(busy) == busy


def test_dead_postgres_handles_are_forgotten(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([os.getpid(), dead.pid]))
    launcher.forget_dead_postgres_handles(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]


# --- signals, readiness and shutdown ---------------------------------------------------------------


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.mark.usefixtures("restore_signals")
def test_a_signal_while_acquiring_a_resource_stops_only_once_it_is_held() -> None:
    guard = launcher.SignalGuard()
    guard.install()
    acquired = False
    with pytest.raises(launcher.StopRequested, match="SIGTERM"), guard.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs here, and must not raise
        acquired = True
    assert acquired
    # Once shutting down, another signal only asks to hurry.
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)
    assert guard.hurry.is_set()


@pytest.mark.usefixtures("restore_signals")
def test_a_signal_outside_a_critical_section_stops_at_once() -> None:
    guard = launcher.SignalGuard()
    guard.install()
    with pytest.raises(launcher.StopRequested, match="SIGINT"):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def _group(command: list[str], tmp_path: Path, name: str = "stub") -> RunningProcess:
    popen = subprocess.Popen(command, start_new_session=True)
    return RunningProcess(ProcessSpec(name, "m:app", free_port()), popen, tmp_path / f"{name}.log")


def test_shutdown_terminates_every_group(tmp_path: Path) -> None:
    processes = [_group(["sleep", "30"], tmp_path, f"p{i}") for i in range(3)]
    started = time.monotonic()
    launcher.shutdown(processes, grace=10)
    assert time.monotonic() - started < 5  # SIGTERM sufficed; no waiting out the grace period
    assert all(p.popen.returncode == -signal.SIGTERM for p in processes)
    assert not any(p.group_alive() for p in processes)


def test_shutdown_kills_a_group_that_ignores_sigterm_including_its_children(tmp_path: Path) -> None:
    # The shell and the sleep it forks both ignore SIGTERM; only SIGKILL to the whole group ends them.
    stubborn = _group(["sh", "-c", "trap '' TERM; sleep 30 & wait"], tmp_path)
    time.sleep(0.2)
    started = time.monotonic()
    launcher.shutdown([stubborn], grace=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert stubborn.popen.returncode == -signal.SIGKILL
    assert not stubborn.group_alive()


def test_a_process_that_dies_while_starting_fails_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "content.log"
    log.write_text("Traceback ...\nImportError: no module named services.content.main\n")
    crashed = RunningProcess(
        ProcessSpec("content", "m:app", free_port()),
        subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]),
        log,
    )
    with pytest.raises(ProcessDiedError, match=r"(?s)content exited with code 3.*ImportError"):
        launcher.wait_ready([crashed], timeout=10)


class _Readyz(BaseHTTPRequestHandler):
    ready_after = 0.0

    def do_GET(self) -> None:
        ok = self.path == "/readyz" and time.monotonic() >= self.ready_after
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def readyz_server() -> Iterator[int]:
    _Readyz.ready_after = time.monotonic() + 0.5  # answers 503 first, as a service still connecting
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_wait_ready_waits_for_200_and_times_out_otherwise(tmp_path: Path, readyz_server: int) -> None:
    alive = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        ready = RunningProcess(ProcessSpec("policy", "m:app", readyz_server), alive, tmp_path / "p.log")
        started = time.monotonic()
        launcher.wait_ready([ready], timeout=10)
        assert time.monotonic() - started >= 0.4  # it did not take the first 503 for an answer
        silent = RunningProcess(ProcessSpec("metrics", "m:app", free_port()), alive, tmp_path / "m.log")
        with pytest.raises(launcher.LauncherError, match="not ready after 1s: metrics"):
            launcher.wait_ready([silent], timeout=1)
    finally:
        alive.kill()
        alive.wait()


# --- the seed hook ---------------------------------------------------------------------------------


def test_seed_is_skipped_when_absent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "condividi.devstack.seed", None)  # makes importing it fail
    launcher.run_seed({"gateway": "http://127.0.0.1:8000"}, _issuer_stub(), tmp_path)
    assert "skipped" in capsys.readouterr().out


@pytest.mark.parametrize("asynchronous", [False, True])
def test_seed_is_called_with_urls_and_issuer(
    monkeypatch: pytest.MonkeyPatch, asynchronous: bool, tmp_path: Path
) -> None:
    calls: list[tuple[dict[str, str], DevIssuer]] = []
    issuer = _issuer_stub()

    def seed_demo(urls: dict[str, str], given: DevIssuer) -> None:
        calls.append((urls, given))

    async def seed_demo_async(urls: dict[str, str], given: DevIssuer) -> None:
        calls.append((urls, given))

    module = types.ModuleType("condividi.devstack.seed")
    module.seed_demo = seed_demo_async if asynchronous else seed_demo  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "condividi.devstack.seed", module)
    launcher.run_seed({"gateway": "http://127.0.0.1:8000"}, issuer, tmp_path)
    assert calls == [({"gateway": "http://127.0.0.1:8000"}, issuer)]


def test_seed_is_told_the_data_folder_when_it_asks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders: list[Path] = []

    def seed_demo(urls: dict[str, str], issuer: DevIssuer, data_dir: Path) -> bool:
        folders.append(data_dir)
        return False  # already seeded on an earlier run

    module = types.ModuleType("condividi.devstack.seed")
    module.seed_demo = seed_demo  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "condividi.devstack.seed", module)
    launcher.run_seed({}, _issuer_stub(), tmp_path)
    assert folders == [tmp_path]
    assert "already there" in capsys.readouterr().out


def _issuer_stub() -> DevIssuer:
    return DevIssuer.__new__(DevIssuer)  # the hook only passes it on; no key needed


# --- make devtoken ---------------------------------------------------------------------------------


def _verify(token: str, issuer: DevIssuer) -> dict[str, Any]:
    key = jwt.PyJWKSet.from_dict(issuer.jwks())[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(
        token, key.key, algorithms=["RS256"], audience="condividi", issuer="http://localhost:8000/dev-issuer"
    )


def _issuer(data_dir: Path) -> DevIssuer:
    return DevIssuer(data_dir / "dev-issuer" / "key.pem", issuer="x", audience="condividi")


def test_devtoken_mints_a_token_the_jwks_verifies(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issuer = _issuer(data_dir)
    code = devtoken.main(
        ["--subject", "u-1", "--org", ORG, "--roles", "employee,curator", "--ttl", "600", "--name", "Ada"]
    )
    assert code == 0
    token = capsys.readouterr().out.strip()
    claims = _verify(token, issuer)
    assert claims["sub"] == "u-1"
    assert claims["org"] == ORG
    assert claims["roles"] == ["employee", "curator"]
    assert claims["name"] == "Ada"
    assert claims["exp"] - claims["iat"] == 600

    # The check is real: another key does not verify it.
    other = DevIssuer(data_dir / "other.pem", issuer="x", audience="condividi")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(other.jwks()["keys"][0]).key, algorithms=["RS256"], audience="condividi")


def test_devtoken_uses_the_key_file_from_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = DevIssuer(data_dir / "elsewhere.pem", issuer="x", audience="condividi")
    monkeypatch.setenv("DEV_ISSUER_KEY_FILE", str(data_dir / "elsewhere.pem"))
    assert devtoken.main(["--subject", "u", "--org", ORG, "--roles", "admin"]) == 0
    assert _verify(capsys.readouterr().out.strip(), elsewhere)["roles"] == ["admin"]


def test_devtoken_for_a_demo_user_by_email(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issuer = _issuer(data_dir)
    users = [
        {
            "subject": "s-cur",
            "org": ORG,
            "roles": ["curator", "employee"],
            "name": "Cora",
            "email": "curator@demo.condividi.dev",
        },
        {
            "subject": "s-emp",
            "org": ORG,
            "roles": ["employee"],
            "name": "Emil",
            "email": "employee@demo.condividi.dev",
        },
    ]
    (data_dir / "demo-users.json").write_text(json.dumps(users))

    assert devtoken.main(["--email", "Curator@demo.condividi.dev"]) == 0
    claims = _verify(capsys.readouterr().out.strip(), issuer)
    assert (claims["sub"], claims["org"], claims["roles"]) == ("s-cur", ORG, ["curator", "employee"])
    assert (claims["name"], claims["email"]) == ("Cora", "curator@demo.condividi.dev")

    assert devtoken.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "curator@demo.condividi.dev" in listing and "employee@demo.condividi.dev" in listing

    assert devtoken.main(["--email", "nobody@demo.condividi.dev"]) == 2
    assert "no demo user" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--email", "curator@demo.condividi.dev"], "demo-users.json does not exist"),
        (["--list"], "demo-users.json does not exist"),
        (["--subject", "u", "--org", ORG], "go together"),
        (["--subject", "u", "--org", "not-a-uuid", "--roles", "employee"], "must be a UUID"),
        (["--subject", "u", "--org", ORG, "--roles", "employee,wizard"], "roles must be"),
        ([], "give --email"),
    ],
)
def test_devtoken_errors_are_clear(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    _issuer(data_dir)
    assert devtoken.main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_devtoken_without_a_key_says_to_start_the_stack(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert devtoken.main(["--subject", "u", "--org", ORG, "--roles", "employee"]) == 2
    assert "make run" in capsys.readouterr().err
    assert not (data_dir / "dev-issuer" / "key.pem").exists()  # no key the stack would not serve


def test_launcher_and_devtoken_agree_on_the_files(data_dir: Path) -> None:
    assert devtoken.key_file() == data_dir / "dev-issuer" / "key.pem"
    assert devtoken.demo_users_file() == data_dir / "demo-users.json"
    assert uuid.UUID(ORG)


# --- the running stack's identity, for make devtoken (issue: tokens refused after moving the gateway) --


def _moved_stack(config: StackConfig, data_dir: Path, **ports: str) -> StackConfig:
    specs = process_specs({f"{name.upper()}_PORT": port for name, port in ports.items()})
    return StackConfig(specs, config.database_urls, config.kafka_bootstrap, data_dir / "keys" / "k.pem", config.secrets)


def test_devtoken_mints_for_the_running_stack_whatever_its_ports(
    data_dir: Path, config: StackConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = _moved_stack(config, data_dir, gateway="8100")
    key = launcher.ensure_issuer(moved.key_file, moved.issuer_url)
    stack = launcher.Stack(launcher.SignalGuard())
    stack.record(moved)
    recorded = json.loads((data_dir / "stack.json").read_text())
    assert recorded["issuer"] == "http://localhost:8100/dev-issuer"
    assert recorded["ports"]["gateway"] == 8100 and recorded["pid"] == os.getpid()

    # No GATEWAY_PORT, no OIDC_ISSUER, no DEV_ISSUER_KEY_FILE in this shell: the stack file decides.
    assert devtoken.main(["--subject", "u-1", "--org", ORG, "--roles", "employee"]) == 0
    token = capsys.readouterr().out.strip()
    jwk = jwt.PyJWK(key.jwks()["keys"][0])
    claims = jwt.decode(
        token, jwk.key, algorithms=["RS256"], audience="condividi", issuer="http://localhost:8100/dev-issuer"
    )
    assert claims["sub"] == "u-1"

    # An explicit --issuer still wins.
    assert devtoken.main(["--subject", "u", "--org", ORG, "--roles", "admin", "--issuer", "http://idp.test"]) == 0
    assert jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})["iss"] == "http://idp.test"

    # Stopped: the file goes, and devtoken falls back to the environment's settings.
    stack.close()
    assert not (data_dir / "stack.json").exists()
    capsys.readouterr()


def test_a_stack_file_left_by_a_killed_launcher_is_ignored(
    data_dir: Path, config: StackConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = _moved_stack(config, data_dir, gateway="8100")
    launcher.ensure_issuer(moved.key_file, moved.issuer_url)
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = json.loads(moved.running_stack().to_json()) | {"pid": dead.pid}
    (data_dir / "stack.json").write_text(json.dumps(record))
    assert devtoken.read_running_stack(data_dir / "stack.json") is None
    (data_dir / "stack.json").write_text("{not json")
    assert devtoken.read_running_stack(data_dir / "stack.json") is None
    # With no stack running, the default key and issuer (port 8000) are used.
    issuer = _issuer(data_dir)
    assert devtoken.main(["--subject", "u", "--org", ORG, "--roles", "employee"]) == 0
    assert _verify(capsys.readouterr().out.strip(), issuer)["sub"] == "u"


def test_a_launcher_removes_only_its_own_stack_file(data_dir: Path, config: StackConfig) -> None:
    path = data_dir / "stack.json"
    path.write_text(json.dumps({"pid": os.getpid() + 1}))  # another launcher's
    launcher.forget_stack_file(path)
    assert path.exists()
    path.write_text(json.dumps({"pid": os.getpid()}))
    launcher.forget_stack_file(path)
    assert not path.exists()


def test_the_banner_prints_devtoken_commands_that_work_as_printed(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CONDIVIDI_DATA_DIR", raising=False)
    assert "\n    make devtoken ARGS='--email curator@demo.condividi.dev'\n" in launcher.banner(config)
    # Another data folder: the command says so, or devtoken would look in .data/ for the stack file.
    monkeypatch.setenv("CONDIVIDI_DATA_DIR", str(tmp_path / "my data"))
    text = launcher.banner(config)
    line = next(line.strip() for line in text.splitlines() if "--email curator@" in line)
    assert shlex.split(line) == [
        f"CONDIVIDI_DATA_DIR={tmp_path / 'my data'}",
        "make",
        "devtoken",
        "ARGS=--email curator@demo.condividi.dev",
    ]


# --- PUBLIC_BASE_URL ---------------------------------------------------------------------------------


def test_public_base_url_reaches_sharing_and_policy_and_the_banner(config: StackConfig) -> None:
    links = launcher.link_base_url({"PUBLIC_BASE_URL": " https://go.example.test/ "})
    assert links == "https://go.example.test"
    custom = StackConfig(
        config.specs, config.database_urls, config.kafka_bootstrap, config.key_file, config.secrets, links
    )
    for name in ("sharing", "policy"):
        assert build_env(custom.spec(name), custom, {"PUBLIC_BASE_URL": "from-the-shell"})["PUBLIC_BASE_URL"] == links
    for name in ("gateway", "content", "metrics"):
        assert "PUBLIC_BASE_URL" not in build_env(custom.spec(name), custom, {"PUBLIC_BASE_URL": links})
    text = launcher.banner(custom)
    assert "https://go.example.test/r/<code>" in text
    assert "http://localhost:8003/r/<code>" in text  # where the links are served on this machine
    assert launcher.link_base_url({}) is None and launcher.link_base_url({"PUBLIC_BASE_URL": " "}) is None
    assert "http://localhost:8003/r/<code>" in launcher.banner(config)


@pytest.mark.parametrize("value", ["go.example.test", "ftp://go.example.test", "https://", "https://go.test/?a=1"])
def test_a_bad_public_base_url_is_refused_before_anything_starts(value: str) -> None:
    with pytest.raises(launcher.LauncherError, match="PUBLIC_BASE_URL must be"):
        launcher.link_base_url({"PUBLIC_BASE_URL": value})


def test_a_process_log_marks_its_start_in_iso_utc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The processes' own lines carry ISO 8601 UTC times; the launcher's marker between runs must read alike.
    monkeypatch.setattr(launcher, "uvicorn_command", lambda spec: [sys.executable, "-c", "print('hello')"])
    running = launcher.start_process(ProcessSpec("content", "m:app", 8123), dict(os.environ), tmp_path)
    assert running.popen.wait(timeout=30) == 0
    marker = next(line for line in (tmp_path / "content.log").read_text().splitlines() if line.startswith("---"))
    stamp = marker.split()[2]
    started = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - started).total_seconds()) < 60, marker


# --- one process dying ---------------------------------------------------------------------------


def test_restart_delay_doubles_up_to_a_ceiling() -> None:
    policy = launcher.RestartPolicy(first_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_process_that_dies_is_restarted_with_backoff_and_the_others_keep_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "crashy" dies at once each time it starts; "steady" must never be touched.
    crashy = _group(["sh", "-c", "echo boom; exit 3"], tmp_path, "crashy")
    steady = _group(["sleep", "30"], tmp_path, "steady")
    (tmp_path / "crashy.log").write_text("Traceback ...\nboom\n")
    started: list[float] = []

    def respawn(dead: RunningProcess) -> RunningProcess:
        started.append(time.monotonic())
        return _group(["sh", "-c", "exit 3"], tmp_path, dead.spec.name)

    processes = [crashy, steady]
    stop = threading.Event()
    policy = launcher.RestartPolicy(first_delay=0.2, max_delay=0.8, stable_after=60)
    supervisor = threading.Thread(target=launcher.supervise, args=(processes, respawn, policy, stop, 0.02))
    began = time.monotonic()
    supervisor.start()
    try:
        deadline = time.monotonic() + 10
        while len(started) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        supervisor.join(5)
    assert len(started) >= 4, started
    gaps = [b - a for a, b in zip([began, *started], started, strict=False)]
    # 0.2, 0.4, 0.8, 0.8 (plus polling): the delay grows, and stops at the ceiling
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8 and gaps[3] < 1.6, gaps
    assert processes[1] is steady and steady.popen.poll() is None
    assert processes[0] is not crashy  # the list shutdown stops holds the new process
    out = capsys.readouterr().out
    assert "crashy exited with code 3; restarting it in 0.2s (restart 1; 1 in a row)" in out
    assert "boom" in out  # the log's last lines, to see why
    assert "crashy restarted (restart 1" in out
    launcher.shutdown(processes, grace=2)

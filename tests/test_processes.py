"""The five processes are described once (condividi/devstack/processes.py): ``make run``, the tests'
real processes and the benchmark give each process the same variables and run the same module, adding
only their own tuning. Without infrastructure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bench import redirect as bench
from condividi import testing
from condividi.devstack import launcher, processes
from condividi.identity.dev_issuer import DevIssuer

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(processes.PROCESSES)


@pytest.fixture
def launcher_envs(tmp_path: Path) -> dict[str, dict[str, str]]:
    config = launcher.StackConfig(
        specs=launcher.process_specs({}),
        database_urls={s: f"postgresql+asyncpg://postgres@/condividi_{s}" for s in processes.SERVICES},
        kafka_bootstrap="127.0.0.1:9092",
        key_file=tmp_path / "key.pem",
        secrets=launcher.Secrets("salt", Fernet.generate_key().decode()),
        click_spool_dir=tmp_path / "clicks",
    )
    return {s.name: launcher.build_env(s, config, {}) for s in config.specs}


@pytest.fixture
def test_envs(tmp_path: Path) -> dict[str, dict[str, str]]:
    infra = testing.Infra(postgres=None, server_url=None, kafka_bootstrap="127.0.0.1:19092")
    dev = DevIssuer(tmp_path / "key.pem", issuer="http://127.0.0.1:1/dev-issuer", audience=testing.AUDIENCE)
    issuer = testing.Issuer(dev, "http://127.0.0.1:1/dev-issuer/jwks", tmp_path / "key.pem")
    urls = {name: f"http://127.0.0.1:{9000 + i}" for i, name in enumerate(NAMES)}
    databases = {s: f"postgresql+asyncpg://postgres@/test_{s}" for s in processes.SERVICES}
    return testing.system_environments(
        testing.system_wiring(infra, issuer, urls, databases, "ns", click_spool_dir=tmp_path / "clicks")
    )


def test_make_run_and_the_tests_give_every_process_the_same_variables(
    launcher_envs: dict[str, dict[str, str]], test_envs: dict[str, dict[str, str]]
) -> None:
    for name in NAMES:
        from_launcher = set(launcher_envs[name]) - {"PYTHONUNBUFFERED"}
        # KAFKA_NAMESPACE: the tests isolate their topics; make run inherits the developer's, if any.
        from_tests = set(test_envs[name]) - set(testing.TEST_TUNING) - {"KAFKA_NAMESPACE"}
        assert from_launcher == from_tests, name
        # and nothing the tests add overrides what a process is told
        assert not set(testing.TEST_TUNING) & set(processes.environment(name, _any_wiring())), name


def _any_wiring() -> processes.Wiring:
    return processes.Wiring(
        kafka_bootstrap="k:1",
        oidc_issuer="http://i",
        oidc_audience="condividi",
        jwks_url="http://i/jwks",
        urls={name: f"http://{name}" for name in NAMES},
        database_urls={name: f"db-{name}" for name in processes.SERVICES},
        public_base_url="http://s",
        click_hash_salt="salt",
        secret_encryption_key="key",
        kafka_namespace="bench",
        dev_issuer_key_file=Path("key.pem"),
        click_spool_dir=Path("clicks"),
    )


def test_the_benchmark_wires_its_processes_as_described() -> None:
    wiring = _any_wiring()
    envs = bench.environments(wiring, ["sharing", "metrics"])
    for name, env in envs.items():
        described = processes.environment(name, wiring)
        assert {k: env[k] for k in described} == described
        assert set(env) - set(described) <= set(bench.BENCH_TUNING)
        assert processes.PROCESSES[name].module in bench.command(name, 1234)
    assert "bench.bare_redirect:app" in bench.command("bare", 1234)


def test_every_launcher_runs_the_described_module_with_the_same_core_flags() -> None:
    for name in NAMES:
        spec = launcher.ProcessSpec(name, processes.PROCESSES[name].module, 8100)
        for command in (launcher.uvicorn_command(spec), bench.command(name, 8100)):
            assert command[3] == processes.PROCESSES[name].module
            assert command[command.index("--host") + 1] == "127.0.0.1"
            assert command[command.index("--port") + 1] == "8100"


def test_policy_and_sharing_share_the_link_host_everywhere(
    launcher_envs: dict[str, dict[str, str]], test_envs: dict[str, dict[str, str]]
) -> None:
    # The drift issue 12 found: policy measured posts without PUBLIC_BASE_URL in the tests.
    for envs in (launcher_envs, test_envs):
        assert envs["policy"]["PUBLIC_BASE_URL"] == envs["sharing"]["PUBLIC_BASE_URL"]


def test_only_sharing_is_told_where_to_spool_clicks_everywhere(
    launcher_envs: dict[str, dict[str, str]], test_envs: dict[str, dict[str, str]]
) -> None:
    for envs in (launcher_envs, test_envs):
        assert [name for name, env in envs.items() if "CLICK_SPOOL_DIR" in env] == ["sharing"]
    assert "CLICK_SPOOL_DIR" in processes.keys_set_per_process()  # an exported one never leaks elsewhere


def test_no_other_module_describes_the_processes() -> None:
    """A second table of modules (or env) would drift again: only processes.py names the apps."""
    apps = re.compile(r"[\"'](?:gateway|services\.\w+)\.main:app[\"']")
    offenders = []
    for folder in ("condividi", "bench", "gateway", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "processes.py" or "tests" in path.parts:
                continue
            if apps.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders

"""``make run`` as a newcomer uses it: the launcher starts everything, seeds the demo organisation,
answers the seeded feed over GraphQL, and on Ctrl-C leaves no process behind and its ports free."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from condividi.devstack.infra import free_port
from condividi.testing import ROOT

SERVICES = ("gateway", "content", "policy", "sharing", "metrics")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_run_seeds_answers_and_stops_clean(tmp_path: Path) -> None:
    if os.environ.get("DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("this test is about the embedded PostgreSQL and broker")
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "CONDIVIDI_DATA_DIR": str(tmp_path / "data"),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    log = (tmp_path / "run.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "condividi.devstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = tmp_path / "run.log"
    try:
        deadline = time.monotonic() + 90
        while "Condividi is running" not in output.read_text(errors="replace"):
            assert launcher.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < deadline, output.read_text()[-3000:]
            time.sleep(0.2)
        children = psutil.Process(launcher.pid).children(recursive=True)

        users = json.loads((tmp_path / "data" / "demo-users.json").read_text())
        curator = next(u for u in users if u["email"].startswith("curator@"))
        token = subprocess.run(
            [sys.executable, "-m", "condividi.identity.devtoken", "--email", curator["email"]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        feed = httpx.post(
            f"http://127.0.0.1:{ports['gateway']}/graphql",
            json={"query": "{ feed(first: 10) { edges { node { title stats { shares } } } } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert "errors" not in feed, feed
        items = [edge["node"] for edge in feed["data"]["feed"]["edges"]]
        assert len(items) == 6, "the seeded content"
        assert sum(i["stats"]["shares"] for i in items) > 0, "the seeded shares"
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        code = launcher.wait(60)
        log.close()
    assert code == 0, output.read_text()[-3000:]
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert all(port_free(port) for port in ports.values())

"""``make run`` as a newcomer uses it: the launcher starts everything (on ports that are not the
defaults, and with a PUBLIC_BASE_URL), seeds the demo organisation, accepts a token minted by the
``make devtoken`` command its banner prints, run as printed from a shell that knows nothing of those
ports, answers the seeded feed over GraphQL, restarts a process that was killed, and on Ctrl-C leaves
no process behind and its ports free."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from condividi.devstack.infra import free_port
from condividi.devstack.seed import CONTENT
from condividi.testing import ROOT

SERVICES = ("gateway", "content", "policy", "sharing", "metrics")
LINKS = "http://links.devstack.test"
# What the launcher was told and a second terminal would not know.
LAUNCH_ONLY = ("CONDIVIDI_DATA_DIR", "PUBLIC_BASE_URL", "OIDC_ISSUER", "OIDC_AUDIENCE", "DEV_ISSUER_KEY_FILE")


def run_as_printed(command: str) -> str:
    """Runs a banner's ``make devtoken`` line in a shell whose environment has none of the stack's
    settings. ``-o`` keeps make from rebuilding the virtual environment under the test, and ``BIN``
    names this interpreter's; the rest of the line is the banner's."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ONLY and not k.endswith("_PORT")}
    env.pop("MAKEFLAGS", None)
    if shutil.which("make"):
        bin_dir = shlex.quote(str(Path(sys.executable).parent))
        command = command.replace(
            "make devtoken", f"make -s --no-print-directory -o .venv/.installed BIN={bin_dir} devtoken", 1
        )
    else:  # no make here: the same arguments to the module it runs
        words = shlex.split(command)
        assign = [w for w in words if w.startswith("CONDIVIDI_DATA_DIR=")]
        args = next(w for w in words if w.startswith("ARGS="))[len("ARGS=") :]
        command = " ".join(
            [*map(shlex.quote, assign), shlex.quote(sys.executable), "-m condividi.identity.devtoken", args]
        )
    done = subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout.strip()


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_run_seeds_answers_and_stops_clean(tmp_path: Path) -> None:
    if os.environ.get("DATABASE_URL") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("this test is about the embedded PostgreSQL and broker")
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "CONDIVIDI_DATA_DIR": str(tmp_path / "data"),
        "PUBLIC_BASE_URL": LINKS,
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

        banner = output.read_text(errors="replace")
        printed = next(line.strip() for line in banner.splitlines() if "devtoken ARGS='--email curator@" in line)
        token = run_as_printed(printed)
        assert f"{LINKS}/r/<code>" in banner
        feed = httpx.post(
            f"http://127.0.0.1:{ports['gateway']}/graphql",
            json={"query": "{ feed(first: 10) { edges { node { title stats { shares } } } } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert "errors" not in feed, feed
        items = [edge["node"] for edge in feed["data"]["feed"]["edges"]]
        titles = {i["title"] for i in items}
        assert {title for title, _ in CONTENT} <= titles, "the seeded content"
        # And the targeted items the curator (in Marketing) is meant to see, not the Engineering one.
        assert titles - {title for title, _ in CONTENT} == {
            "Solar plant: a day on site",
            "Sales kick-off: the highlights",
        }, titles
        assert sum(i["stats"]["shares"] for i in items) > 0, "the seeded shares"
        # The seeded captions (two languages) and the suggestion waiting in the curators' queue.
        seeded = httpx.post(
            f"http://127.0.0.1:{ports['gateway']}/graphql",
            json={
                "query": "{ feed(first: 10) { edges { node { captions { language } } } } "
                "suggestions(status: PENDING, first: 5) { edges { node { url } } } }"
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert "errors" not in seeded, seeded
        languages = {c["language"] for e in seeded["data"]["feed"]["edges"] for c in e["node"]["captions"]}
        assert languages == {"", "it"}, seeded
        assert [e["node"]["url"] for e in seeded["data"]["suggestions"]["edges"]] == [
            "https://example.com/blog/robotics-lab"
        ]

        # The seed's one deactivated member (an employee who shared, then left).
        admin_token = run_as_printed(printed.replace("curator@demo.condividi.dev", "admin@demo.condividi.dev"))
        inactive = httpx.get(
            f"http://127.0.0.1:{ports['policy']}/api/v1/roster/members",
            params={"active": "false"},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=10,
        )
        assert inactive.status_code == 200, inactive.text
        assert [m["subject"][:14] for m in inactive.json()["items"]] == ["demo-employee-"], inactive.text
        # The seeded policy, which the staff accepted and the last employees have not; the training module.
        standing = "{ me { policy { required acknowledged current { version } } training { title attempts } } }"

        def me(bearer: str) -> dict[str, Any]:
            answer = httpx.post(
                f"http://127.0.0.1:{ports['gateway']}/graphql",
                json={"query": standing},
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=10,
            ).json()
            assert "errors" not in answer, answer
            result: dict[str, Any] = answer["data"]["me"]
            return result

        assert me(token)["policy"] == {"required": True, "acknowledged": True, "current": {"version": 1}}
        assert [m["title"] for m in me(token)["training"]] == ["Sharing on social media: the basics"]

        # PUBLIC_BASE_URL: sharing builds the tracking links on it, policy measures posts with one.
        users = json.loads((tmp_path / "data" / "demo-users.json").read_text())
        # The seed shares for 24 of its employees, drawn at random: read the shares of each until one has
        # published shares (a pending or rejected share has no tracking link).
        shares: list[dict[str, Any]] = []
        for user in (u for u in users if u["subject"].startswith("demo-employee-")):
            sharer_token = run_as_printed(printed.replace("curator@demo.condividi.dev", user["email"]))
            answer = httpx.get(
                f"http://127.0.0.1:{ports['sharing']}/api/v1/shares",
                headers={"Authorization": f"Bearer {sharer_token}"},
                timeout=10,
            )
            if answer.status_code == 403:
                # The seed's employee who has left: refused although their token is fresh.
                assert answer.json()["error"]["code"] == "member_deactivated", answer.text
                continue
            shares = answer.json()["items"]
            if any(s.get("tracking_url") for s in shares):
                break
        links = [s["tracking_url"] for s in shares if s.get("tracking_url")]
        assert links and all(link.startswith(f"{LINKS}/r/") for link in links), shares
        # The last employee still in the company (the seed's leaver may be any employee who shared).
        left = {m["subject"] for m in inactive.json()["items"]}
        newest = [u for u in users if u["subject"].startswith("demo-employee-") and u["subject"] not in left][-1]
        newcomer = run_as_printed(printed.replace("curator@demo.condividi.dev", newest["email"]))
        assert me(newcomer)["policy"] == {"required": True, "acknowledged": False, "current": {"version": 1}}

        def measured(**body: str) -> int:
            checked = httpx.post(
                f"http://127.0.0.1:{ports['policy']}/api/v1/policy-checks",
                json={"network": "linkedin", "text": "Worth a read", **body},
                headers={"Authorization": f"Bearer {sharer_token}"},
                timeout=10,
            )
            assert checked.status_code == 200, checked.text
            return int(checked.json()["length"])

        assert measured() == measured(url=f"{LINKS}/r/abcdefgh") != measured(url="http://localhost:1/r/abcdefgh")

        # One process dying does not take the stack down: the launcher restarts it and says so.
        metrics = next(c for c in children if "services.metrics.main:app" in " ".join(c.cmdline()))
        metrics.kill()
        restarted = time.monotonic() + 60
        while "metrics restarted" not in output.read_text(errors="replace"):
            assert launcher.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < restarted, output.read_text()[-3000:]
            time.sleep(0.2)
        assert f"metrics exited with code {-signal.SIGKILL}; restarting it in 1s" in output.read_text()
        while not answers(f"http://127.0.0.1:{ports['metrics']}/readyz"):
            assert time.monotonic() < restarted, output.read_text()[-3000:]
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{ports['gateway']}/healthz", timeout=5).status_code == 200
        children = psutil.Process(launcher.pid).children(recursive=True)
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        code = launcher.wait(60)
        log.close()
    assert code == 0, output.read_text()[-3000:]
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert all(port_free(port) for port in ports.values())

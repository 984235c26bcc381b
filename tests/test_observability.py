import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from condividi.devstack.infra import free_port
from condividi.errors import install_error_handlers
from condividi.observability import RequestContextMiddleware, configure_logging, health_routes, valid_traceparent
from condividi.testing import ROOT

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (GOOD, GOOD),
        (f" {GOOD} ", GOOD),
        (GOOD.upper(), ""),  # the W3C format is lower-case hex
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""),  # version ff is invalid
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""),  # all-zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""),  # all-zero parent id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", ""),
        ("not a trace", ""),
        ("", ""),
    ],
)
def test_only_well_formed_trace_contexts_are_carried(header: str, kept: str) -> None:
    assert valid_traceparent(header) == kept


# --- JSON log lines: timestamps and the access line -------------------------------------------------

ISO_UTC_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handler; put the previous one back after the test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        yield
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def small_app() -> FastAPI:
    router = APIRouter(prefix="/api/v1")

    @router.get("/shares/{share_id}")
    async def get_share(share_id: uuid.UUID) -> dict[str, str]:
        logging.getLogger("services.test").info("looked up", extra={"share": str(share_id)})
        return {"id": str(share_id)}

    @router.post("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.router.routes.extend(health_routes({}))
    app.include_router(router)
    return app


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_every_line_has_an_iso_utc_time_and_each_request_one_access_line(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("sharing", "INFO")
    share_id = uuid.uuid4()
    transport = httpx.ASGITransport(app=small_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        found = await client.get(
            f"/api/v1/shares/{share_id}?access_token=query-secret",
            headers={"Authorization": f"Bearer {SECRET_TOKEN}", "X-Request-ID": "req-42"},
        )
        missing = await client.get("/api/v1/nothing/here/42", headers={"Authorization": f"Bearer {SECRET_TOKEN}"})
        failed = await client.post("/api/v1/boom")
        await client.get("/healthz")  # a probe: DEBUG, not shown at INFO
    assert (found.status_code, missing.status_code, failed.status_code) == (200, 404, 500)

    output = capsys.readouterr().out
    assert SECRET_TOKEN not in output and "query-secret" not in output
    lines = json_lines(output)
    assert lines and all(ISO_UTC_MS.fullmatch(line["time"]) for line in lines), lines
    now = datetime.now(UTC)
    for line in lines:
        logged = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs((now - logged).total_seconds()) < 60, "the time is UTC, not local time"
        assert line["service"] == "sharing"

    access = [line for line in lines if line["logger"] == "condividi.access"]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("GET", "/api/v1/shares/{share_id}", 200),
        ("GET", "<unmatched>", 404),  # unmatched: one bounded label, not the raw path
        ("POST", "/api/v1/boom", 500),
    ]
    assert access[0]["request_id"] == "req-42" == found.headers["x-request-id"]
    assert access[1]["request_id"] == missing.headers["x-request-id"]
    assert all(isinstance(a["duration_ms"], float) and a["duration_ms"] >= 0 for a in access)
    assert not any(str(share_id) in json.dumps(a) for a in access), "the raw path leaked"
    assert all(a["level"] == "INFO" and a["message"] == "request" for a in access)
    # The application's own line within the request carries the same request id.
    looked_up = next(line for line in lines if line["message"] == "looked up")
    assert looked_up["request_id"] == "req-42"


async def test_probes_are_logged_at_debug(root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("policy", "DEBUG")
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/healthz")).status_code == 200
    access = [line for line in json_lines(capsys.readouterr().out) if line["logger"] == "condividi.access"]
    assert [(a["route"], a["status"], a["level"]) for a in access] == [("/healthz", 200, "DEBUG")]


APP_MODULE = """
from fastapi import FastAPI
from condividi.observability import RequestContextMiddleware, configure_logging

configure_logging("probe", "INFO")
app = FastAPI()
app.add_middleware(RequestContextMiddleware)


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}
"""


def test_a_real_uvicorn_writes_one_access_line_per_request(tmp_path: Path) -> None:
    """uvicorn configures its own loggers before importing the app; even with its access log left on
    (no --no-access-log), the only access line is ours."""
    (tmp_path / "probe_app.py").write_text(APP_MODULE)
    port = free_port()
    log_file = tmp_path / "uvicorn.log"
    with log_file.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "probe_app:app", "--app-dir", str(tmp_path), "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/items/7?sig=query-secret",
                    headers={"Authorization": f"Bearer {SECRET_TOKEN}"},
                )
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.1)
        assert response.status_code == 200
        httpx.get(f"http://127.0.0.1:{port}/items/8")
    finally:
        server.terminate()
        server.wait(10)
    output = log_file.read_text()
    assert SECRET_TOKEN not in output and "query-secret" not in output
    lines = json_lines(output)  # every line is JSON: uvicorn's own lines go through our formatter too
    assert all(ISO_UTC_MS.fullmatch(line["time"]) for line in lines)
    access = [line for line in lines if "/items" in json.dumps(line)]
    assert [(a["logger"], a["route"], a["status"]) for a in access] == [
        ("condividi.access", "/items/{item_id}", 200),
        ("condividi.access", "/items/{item_id}", 200),
    ]


async def test_unmatched_paths_and_odd_methods_add_no_label_values(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scanner trying paths (or a token pasted into a path) must neither grow the metric label set,
    one series per distinct path for the life of the process, nor reach the log."""
    from prometheus_client import REGISTRY

    def routes_and_methods() -> tuple[set[str], set[str]]:
        samples = [s for m in REGISTRY.collect() if m.name == "http_requests" for s in m.samples]
        return {s.labels["route"] for s in samples}, {s.labels["method"] for s in samples}

    configure_logging("sharing", "INFO")
    routes_before, methods_before = routes_and_methods()
    transport = httpx.ASGITransport(app=small_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in (f"/{SECRET_TOKEN}", "/wp-admin.php", f"/x{uuid.uuid4().hex}/y", "/api/v1/nothing/1"):
            assert (await client.get(path)).status_code == 404
        assert (await client.request("BREW", "/api/v1/boom")).status_code == 405
    routes_after, methods_after = routes_and_methods()

    assert len(routes_after - routes_before) <= 1, routes_after - routes_before
    assert not any(SECRET_TOKEN in r or "wp-admin" in r for r in routes_after)
    assert methods_after - methods_before <= {"OTHER", "GET"}, methods_after - methods_before
    output = capsys.readouterr().out
    assert SECRET_TOKEN not in output and "wp-admin" not in output and "BREW" not in output

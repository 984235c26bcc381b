"""The drains of a shutdown last as long as the settings say, so the budget that
tests/test_k8s_manifests.py adds up from the settings is the one the processes keep."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from condividi.outbox import OutboxRelay
from condividi.service import ServiceRuntime
from condividi.settings import ServiceSettings
from services.sharing.links import ClickRecorder
from services.sharing.main import build_app
from services.sharing.settings import SharingSettings


class _Producer:
    async def stop(self) -> None:
        return None


async def test_the_outbox_drains_for_outbox_drain_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    graces: list[float] = []

    async def drain_and_stop(self: OutboxRelay, grace_seconds: float = 5.0) -> None:
        graces.append(grace_seconds)

    monkeypatch.setattr(OutboxRelay, "drain_and_stop", drain_and_stop)
    runtime = ServiceRuntime(ServiceSettings(OUTBOX_DRAIN_SECONDS=1.5))
    runtime._producer = _Producer()  # type: ignore[assignment]
    runtime.relay = OutboxRelay(runtime.db, runtime._producer, poll_seconds=1)  # type: ignore[arg-type]
    await runtime.stop()
    assert graces == [1.5]


async def test_sharing_writes_queued_clicks_for_click_drain_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    graces: list[float] = []

    async def stop(self: ClickRecorder, grace_seconds: float = 10.0) -> None:
        graces.append(grace_seconds)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    monkeypatch.setattr(ClickRecorder, "stop", stop)
    app = build_app(SharingSettings(CLICK_DRAIN_SECONDS=2.5))
    runtime: ServiceRuntime = app.state.runtime

    async def nothing(*_: Any) -> None:
        return None

    # The lifespan without Kafka and PostgreSQL: what matters is what it asks to run at shutdown.
    monkeypatch.setattr(runtime, "start", nothing)
    monkeypatch.setattr(runtime, "stop", nothing)
    async with app.router.lifespan_context(app):
        pass
    for hook in runtime.on_stop:
        await hook()
    assert graces == [2.5]
    await runtime.db.dispose()
    await runtime.http.aclose()

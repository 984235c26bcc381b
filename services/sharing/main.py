"""The sharing service: shares and their states, social connections, tracking links and the click
redirect."""

import functools
from pathlib import Path

from fastapi import FastAPI

from condividi.roster_copy import lookup_in
from condividi.service import ServiceRuntime, create_service_app
from services.sharing.api import router
from services.sharing.click_filter import ClickFilter, CrawlerCheck, FilterSettings
from services.sharing.handlers import subscriptions
from services.sharing.links import ClickRecorder, ClickRedirect, ClickSink, LinkDirectory, SpoolRecorder
from services.sharing.redrive import Redriver
from services.sharing.settings import SharingSettings
from services.sharing.shipper import start_child_shipper, stop_child_shipper
from services.sharing.spool import ClickSpool


def build_app(settings: SharingSettings | None = None) -> FastAPI:
    settings = settings or SharingSettings()
    recorder: ClickSink

    async def start_click_recorder(runtime: ServiceRuntime) -> None:
        redriver.start()
        runtime.on_stop.append(redriver.stop)
        if isinstance(recorder, ClickRecorder):
            recorder.start()
            runtime.on_stop.append(functools.partial(recorder.stop, settings.CLICK_DRAIN_SECONDS))
            return
        spool = recorder.spool
        spool.open()
        spool.start()
        child = start_child_shipper(settings) if settings.CLICK_SHIPPER == "child" else None

        async def stop_spool() -> None:
            await spool.close()  # sealed: the shipper may finish it and delete it
            if child is not None:
                await stop_child_shipper(child, settings.CLICK_DRAIN_SECONDS)

        runtime.on_stop.append(stop_spool)

    app = create_service_app(
        settings,
        title="Condividi sharing",
        description="Shares and their state machine, social connections, tracking links and the click redirect.",
        routers=[router],
        subscriptions=subscriptions(settings),
        on_startup=start_click_recorder,
        roster=lambda runtime: lookup_in(runtime.db),
    )
    runtime: ServiceRuntime = app.state.runtime
    redriver = Redriver(runtime.db, settings)
    if settings.CLICK_SPOOL_DIR:
        recorder = SpoolRecorder(
            ClickSpool(
                Path(settings.CLICK_SPOOL_DIR),
                segment_bytes=settings.CLICK_SPOOL_SEGMENT_BYTES,
                fsync_seconds=settings.CLICK_SPOOL_FSYNC_SECONDS,
            )
        )
    else:
        recorder = ClickRecorder(runtime.db)
    app.fast_paths = (
        (
            "/r/",
            ClickRedirect(
                directory=LinkDirectory(runtime.db, settings.LINK_CACHE_SIZE),
                recorder=recorder,
                salt=settings.CLICK_HASH_SALT,
                click_filter=ClickFilter(
                    FilterSettings(
                        repeat_window_seconds=settings.CLICK_REPEAT_WINDOW_SECONDS,
                        visitor_clicks_per_minute=settings.CLICK_RATE_PER_VISITOR_PER_MINUTE,
                        link_clicks_per_minute=settings.CLICK_RATE_PER_LINK_PER_MINUTE,
                        memory_bytes=settings.CLICK_FILTER_MEMORY_BYTES,
                    )
                ),
                crawler_check=CrawlerCheck(
                    settings.CRAWLER_CACHE_BYTES, settings.CRAWLER_CHECKS_PER_ADDRESS_PER_MINUTE
                ),
            ),
        ),
    )
    return app


app = build_app()

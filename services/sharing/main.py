"""The sharing service: shares and their states, social connections, tracking links and the click
redirect."""

import functools

from fastapi import FastAPI

from condividi.roster_copy import lookup_in
from condividi.service import ServiceRuntime, create_service_app
from services.sharing.api import router
from services.sharing.click_filter import ClickFilter, CrawlerCheck, FilterSettings
from services.sharing.handlers import subscriptions
from services.sharing.links import ClickRecorder, ClickRedirect, LinkDirectory
from services.sharing.redrive import Redriver
from services.sharing.settings import SharingSettings


def build_app(settings: SharingSettings | None = None) -> FastAPI:
    settings = settings or SharingSettings()

    async def start_click_recorder(runtime: ServiceRuntime) -> None:
        recorder.start()
        runtime.on_stop.append(functools.partial(recorder.stop, settings.CLICK_DRAIN_SECONDS))
        redriver.start()
        runtime.on_stop.append(redriver.stop)

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
    recorder = ClickRecorder(runtime.db)
    redriver = Redriver(runtime.db, settings)
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

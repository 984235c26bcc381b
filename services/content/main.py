"""The content service: the curators' library, the feed, and ``ContentPublished`` events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import ServiceRuntime, create_service_app
from services.content.api import router
from services.content.scheduler import Scheduler
from services.content.settings import ContentSettings


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    settings = settings or ContentSettings()

    async def start_scheduler(runtime: ServiceRuntime) -> None:
        scheduler = Scheduler(runtime.db, settings)
        scheduler.start()
        runtime.on_stop.append(scheduler.stop)

    return create_service_app(
        settings,
        title="Condividi content",
        description="The curators' library of content items employees share, and each employee's feed.",
        routers=[router],
        subscriptions=[roster_subscription("content")],
        on_startup=start_scheduler,
        roster=lambda runtime: lookup_in(runtime.db),
    )


app = build_app()

"""The content service: the library, campaigns, audiences, the ranked feed, link previews, and their events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import ServiceRuntime, create_service_app
from services.content import captions, copies, suggestions
from services.content.api import router
from services.content.campaigns_api import router as campaigns_router
from services.content.previews.api import router as previews_router
from services.content.previews.worker import start_preview_worker
from services.content.scheduler import Scheduler
from services.content.settings import ContentSettings


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    settings = settings or ContentSettings()
    start_previews = start_preview_worker(settings)

    async def start_workers(runtime: ServiceRuntime) -> None:
        scheduler = Scheduler(runtime.db, settings)
        scheduler.start()
        runtime.on_stop.append(scheduler.stop)
        await start_previews(runtime)

    return create_service_app(
        settings,
        title="Condividi content",
        description="The curators' library of content items employees share, and each employee's feed.",
        routers=[router, campaigns_router, previews_router, captions.router, suggestions.router],
        subscriptions=[roster_subscription("content"), *copies.subscriptions()],
        on_startup=start_workers,
        roster=lambda runtime: lookup_in(runtime.db),
    )


app = build_app()

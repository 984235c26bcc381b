"""The content service: content items, the feed, and ``ContentPublished`` events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import create_service_app
from services.content.api import router
from services.content.previews.api import router as previews_router
from services.content.previews.worker import start_preview_worker
from services.content.settings import ContentSettings


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    settings = settings or ContentSettings()
    return create_service_app(
        settings,
        title="Condividi content",
        description="Content items that curators publish and employees share, and each employee's feed.",
        routers=[router, previews_router],
        subscriptions=[roster_subscription("content")],
        roster=lambda runtime: lookup_in(runtime.db),
        on_startup=start_preview_worker(settings),
    )


app = build_app()

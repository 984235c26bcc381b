"""The content service: content items, campaigns, audiences, the ranked feed, and their events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import create_service_app
from services.content import copies
from services.content.api import router
from services.content.campaigns_api import router as campaigns_router
from services.content.settings import ContentSettings


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ContentSettings(),
        title="Condividi content",
        description="Content items that curators publish and employees share, and each employee's feed.",
        routers=[router, campaigns_router],
        subscriptions=[roster_subscription("content"), *copies.subscriptions()],
        roster=lambda runtime: lookup_in(runtime.db),
    )


app = build_app()

"""The content service: content items, the feed, and ``ContentPublished`` events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import create_service_app
from services.content import captions, suggestions
from services.content.api import router
from services.content.settings import ContentSettings


def build_app(settings: ContentSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ContentSettings(),
        title="Condividi content",
        description="Content items that curators publish and employees share, and each employee's feed.",
        routers=[router, captions.router, suggestions.router],
        subscriptions=[roster_subscription("content")],
        roster=lambda runtime: lookup_in(runtime.db),
    )


app = build_app()

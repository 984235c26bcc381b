"""The metrics service: rollups of shares, clicks and reach, folded from content and sharing events."""

from fastapi import FastAPI

from condividi.roster_copy import lookup_in, roster_subscription
from condividi.service import create_service_app
from services.metrics.api import router
from services.metrics.handlers import rollups_subscription
from services.metrics.settings import MetricsSettings


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    return create_service_app(
        settings,
        title="Condividi metrics",
        description=(
            "Shares, clicks, unique clicks and potential reach per content item and per org, folded from "
            "the content and sharing events."
        ),
        routers=[router],
        subscriptions=[rollups_subscription(), roster_subscription("metrics")],
        roster=lambda runtime: lookup_in(runtime.db),
    )


app = build_app()

"""The policy service: the org's roster, the live policy check, and the decision on every share."""

from fastapi import FastAPI

from condividi.service import create_service_app
from services.policy.api import router
from services.policy.handlers import share_decisions
from services.policy.settings import PolicySettings


def build_app(settings: PolicySettings | None = None) -> FastAPI:
    return create_service_app(
        settings or PolicySettings(),
        title="Condividi policy",
        description=(
            "The org's people (members, teams, roles) and its rules: the live check while an employee "
            "writes a post, and the decision on every submitted share."
        ),
        routers=[router],
        subscriptions=[share_decisions],
    )


app = build_app()

"""The policy service: the org's roster, the live policy check, and the decision on every share."""

from fastapi import FastAPI

from condividi.service import create_service_app
from services.policy.api import router
from services.policy.handlers import share_decisions
from services.policy.policies_api import router as policies_router
from services.policy.settings import PolicySettings
from services.policy.training_api import router as training_router


def build_app(settings: PolicySettings | None = None) -> FastAPI:
    return create_service_app(
        settings or PolicySettings(),
        title="Condividi policy",
        description=(
            "The org's people (members, teams, roles) and its rules: the live check while an employee "
            "writes a post, and the decision on every submitted share; the versioned social-media policy and its "
            "acknowledgements; training, quizzes and certifications."
        ),
        routers=[router, policies_router, training_router],
        subscriptions=[share_decisions],
    )


app = build_app()

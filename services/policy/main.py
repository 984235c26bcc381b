"""The policy service: the org's roster (REST, SCIM 2.0 and CSV), the live policy check, and the
decision on every share."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from condividi.service import create_service_app
from services.policy.api import router
from services.policy.audit_api import router as audit_router
from services.policy.compliance_api import router as compliance_router
from services.policy.handlers import share_decisions
from services.policy.policies_api import router as policies_router
from services.policy.roster_api import roster_lookup
from services.policy.roster_api import router as roster_router
from services.policy.scim.api import router as scim_router
from services.policy.scim.errors import ScimError, error_response
from services.policy.settings import PolicySettings
from services.policy.training_api import router as training_router


async def _scim_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScimError)
    return error_response(exc)


def build_app(settings: PolicySettings | None = None) -> FastAPI:
    app = create_service_app(
        settings or PolicySettings(),
        title="Condividi policy",
        description=(
            "The org's people (members, teams, roles; SCIM 2.0 at /scim/v2 and CSV import) and its rules: the "
            "live check while an employee writes a post, and the decision on every submitted share; the versioned "
            "social-media policy and its acknowledgements; training, quizzes and certifications; the compliance "
            "rules admins configure (phrases, patterns, disclosure, links, hashtags, quiet periods, caps, "
            "personal touch)."
        ),
        routers=[
            router,
            roster_router,
            scim_router,
            policies_router,
            training_router,
            audit_router,
            compliance_router,
        ],
        subscriptions=[share_decisions],
        roster=lambda runtime: roster_lookup(runtime.db),
    )
    app.add_exception_handler(ScimError, _scim_error)
    return app


app = build_app()

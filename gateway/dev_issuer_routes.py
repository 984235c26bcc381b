"""The development OIDC issuer, served by the gateway under ``/dev-issuer`` only when
``DEV_ISSUER_KEY_FILE`` is set (``make run`` sets it), so that frontend developers can mint tokens
locally: ``POST /dev-issuer/token``, then ``Authorization: Bearer <access_token>``.

The JWKS and discovery document are what any service (and the gateway itself) verifies against when
``OIDC_JWKS_URL`` points here. Never enable this in production: anyone can mint any identity.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from condividi.identity import Role
from condividi.identity.dev_issuer import DevIssuer
from condividi.identity.devtoken import DEFAULT_TTL_SECONDS
from condividi.openapi import DocumentedRoute

MAX_TTL_SECONDS = 86_400


class TokenRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=255, description="The token's `sub`.")
    org: uuid.UUID = Field(description="The organisation's id (the `org` claim).")
    roles: list[Role] = Field(min_length=1)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


def dev_issuer_router(key_file: Path, *, issuer: str, audience: str) -> APIRouter:
    dev = DevIssuer(key_file, issuer=issuer, audience=audience)
    router = APIRouter(prefix="/dev-issuer", tags=["dev-issuer"], route_class=DocumentedRoute)
    # The key does not change while the process runs.
    jwks = dev.jwks()
    discovery = {
        "issuer": issuer,
        "jwks_uri": f"{issuer.rstrip('/')}/jwks",
        "id_token_signing_alg_values_supported": ["RS256"],
    }

    @router.get("/jwks", name="jwks")
    async def get_jwks() -> dict[str, Any]:
        """The issuer's public keys (JWKS)."""
        return jwks

    @router.get("/.well-known/openid-configuration", name="openid-configuration")
    async def get_openid_configuration() -> dict[str, Any]:
        """OIDC discovery: the issuer and where its keys are."""
        return discovery

    @router.post("/token", name="mint-token")
    async def mint_token(body: TokenRequest) -> TokenResponse:
        """Mints an RS256 access token for whoever the body names (development only)."""
        token = dev.mint(
            subject=body.subject,
            org_id=str(body.org),
            roles=[r.value for r in body.roles],
            ttl_seconds=body.ttl_seconds,
            name=body.name,
            email=body.email,
        )
        return TokenResponse(access_token=token, expires_in=body.ttl_seconds)

    return router

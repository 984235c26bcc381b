"""What the REST conventions promise at run time, beside what the OpenAPI documents say
(tests/test_openapi.py): a 401 carries the RFC 6750 challenge, the documentation pages declare the
bearer scheme, and a database that cannot be reached answers 503 in the one error shape."""

from __future__ import annotations

import uuid

import httpx
import pytest

from condividi.devstack.infra import free_port
from condividi.identity import Role
from condividi.networks import supported_names
from condividi.testing import Issuer, RunningSystem
from services.content.main import build_app as build_content
from services.content.settings import ContentSettings

# One route of each service that needs a token.
AUTHENTICATED = {
    "content": ("GET", "/api/v1/feed"),
    "policy": ("GET", "/api/v1/teams"),
    "sharing": ("GET", "/api/v1/connections"),
    "metrics": ("GET", f"/api/v1/content-stats/{uuid.uuid4()}"),
}


def call(system: RunningSystem, service: str, headers: dict[str, str]) -> httpx.Response:
    method, path = AUTHENTICATED[service]
    return httpx.request(method, f"{system.urls[service]}{path}", headers=headers, timeout=15)


def assert_unauthenticated(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert error["request_id"] == response.headers["x-request-id"]
    challenge: str = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="condividi"'), challenge
    return challenge


@pytest.mark.parametrize("service", list(AUTHENTICATED))
def test_a_401_says_how_to_authenticate(system: RunningSystem, service: str) -> None:
    # No token (or another scheme): the bare challenge, no error code (RFC 6750, section 3.1).
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        assert assert_unauthenticated(call(system, service, headers)) == 'Bearer realm="condividi"'

    # A token that was sent and refused: invalid_token, with the reason.
    org = uuid.uuid4()
    refused = {
        "malformed": "not-a-jwt",
        "expired": system.issuer.token(org=org, roles=[Role.EMPLOYEE], exp=1_000_000_000, iat=999_999_000),
        "another audience": system.issuer.token(org=org, roles=[Role.EMPLOYEE], aud="someone-else"),
    }
    for why, token in refused.items():
        response = call(system, service, {"Authorization": f"Bearer {token}"})
        challenge = assert_unauthenticated(response)
        message = response.json()["error"]["message"]
        assert challenge == f'Bearer realm="condividi", error="invalid_token", error_description="{message}"', why

    accepted = call(system, service, system.issuer.headers(org=org, roles=list(Role)))
    assert accepted.status_code != 401, accepted.text
    assert "www-authenticate" not in accepted.headers


@pytest.mark.parametrize("service", list(AUTHENTICATED))
def test_public_endpoints_answer_without_a_token(system: RunningSystem, service: str) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        response = httpx.get(f"{system.urls[service]}{path}", timeout=15)
        assert response.status_code == 200, (path, response.text)
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("service", [*AUTHENTICATED, "gateway"])
def test_the_docs_offer_the_bearer_scheme(system: RunningSystem, service: str) -> None:
    docs = httpx.get(f"{system.urls[service]}/docs", timeout=15)
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text
    document = httpx.get(f"{system.urls[service]}/openapi.json", timeout=15).json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_an_unreachable_database_answers_503_in_the_one_shape(issuer: Issuer) -> None:
    # Nothing listens on this port: the request is fine, the database is not there.
    settings = ContentSettings.model_validate(
        {
            "OIDC_ISSUER": issuer.issuer.issuer,
            "OIDC_AUDIENCE": "condividi",
            "OIDC_JWKS_URL": issuer.jwks_url,
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone",
        }
    )
    app = build_content(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as client:
            response = await client.get("/api/v1/feed", headers=issuer.headers(org=uuid.uuid4(), roles=[Role.EMPLOYEE]))
    finally:
        await app.state.runtime.http.aclose()
        await app.state.runtime.db.dispose()
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] in ("database_unavailable", "unavailable")
    assert error["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("network", ["instagram", "pinterest", "myspace"])
def test_policy_and_sharing_refuse_a_network_outside_the_table_in_the_same_words(
    system: RunningSystem, network: str
) -> None:
    headers = system.issuer.headers(org=uuid.uuid4(), roles=[Role.EMPLOYEE])
    check = httpx.post(
        f"{system.urls['policy']}/api/v1/policy-checks", json={"network": network, "text": "hi"}, headers=headers
    )
    share = httpx.post(
        f"{system.urls['sharing']}/api/v1/shares",
        json={"network": network, "text": "hi", "content_id": str(uuid.uuid4())},
        headers=headers,
    )
    supported = ", ".join(supported_names())
    for response in (check, share):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert error["details"] == [
            {"loc": ["body", "network"], "message": f"unsupported network; use one of: {supported}"}
        ]

"""Fixtures for the gateway's tests: the four services' stand-ins (real HTTP servers), and the
gateway app wired to them and to the test issuer, run with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import AUDIENCE, Issuer, running
from gateway.main import build_app
from gateway.settings import GatewaySettings
from gateway.tests.fakes import Downstream, ServerThread, start_downstream

ORG = "6f1d7a52-3c0e-4a4e-9a53-1d2f0e9b7c11"


@pytest.fixture(scope="session")
def _downstream_servers() -> Iterator[tuple[Downstream, list[ServerThread]]]:
    state, servers = start_downstream()
    try:
        yield state, servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def downstream(_downstream_servers: tuple[Downstream, list[ServerThread]]) -> Iterator[Downstream]:
    state = _downstream_servers[0]
    state.reset()
    yield state
    state.reset()


def gateway_settings(issuer: Issuer, downstream: Downstream, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "OIDC_ISSUER": issuer.issuer.issuer,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_JWKS_URL": issuer.jwks_url,
        **{f"{name.upper()}_SERVICE_URL": url for name, url in downstream.urls.items()},
        "LOG_LEVEL": "WARNING",
        # No broker in these tests (test_live_subscriptions.py turns events on, with a real one).
        "GRAPHQL_LIVE_EVENTS": False,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
async def gateway(issuer: Issuer, downstream: Downstream) -> AsyncIterator[httpx.AsyncClient]:
    async with running(build_app(gateway_settings(issuer, downstream))) as client:
        yield client


class Gql(Protocol):
    def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Awaitable[dict[str, Any]]: ...


def employee_headers(issuer: Issuer, subject: str = "employee-1", **claims: Any) -> dict[str, str]:
    return issuer.headers(org=ORG, roles=[Role.EMPLOYEE], subject=subject, **claims)


def curator_headers(issuer: Issuer) -> dict[str, str]:
    return issuer.headers(org=ORG, roles=[Role.CURATOR], subject="curator-1")


@pytest.fixture
def gql(gateway: httpx.AsyncClient, issuer: Issuer) -> Gql:
    """POSTs a GraphQL operation (as an employee unless ``headers`` says otherwise) and returns the
    body; GraphQL answers 200 whether or not the operation failed."""

    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> dict[str, Any]:
        response = await (client or gateway).post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=employee_headers(issuer) if headers is None else headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return run


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


RunGql = Callable[..., Awaitable[dict[str, Any]]]

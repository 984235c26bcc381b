"""One policy service for the whole folder. A consumer stopped while it is still joining its group takes
about five seconds to leave (aiokafka waits for the broker's JoinGroup answer), so an app per test would
spend most of the run in shutdowns; tests stay independent by each working in an org of its own."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.policy.main import build_app
from services.policy.settings import PolicySettings


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    """The policy service on a fresh database, with its relay and its consumer running."""
    env = service_env(infra, issuer, "policy", infra.new_database("policy"))
    async with running(build_app(PolicySettings.model_validate(env))) as c:
        yield c


def new_org() -> uuid.UUID:
    return uuid.uuid4()


def headers(issuer: Issuer, org: uuid.UUID, *roles: Role, subject: str = "employee-1") -> dict[str, str]:
    return issuer.headers(org=org, roles=list(roles), subject=subject)

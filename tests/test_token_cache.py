"""The verified-token cache (condividi/identity/verifier.py): a token verified once is not verified
again, yet an expired token, a token whose key the issuer withdrew and a revoked subject's token are
refused as before, forged tokens are never stored, and the cache stays within its bytes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio

from condividi.errors import ApiError
from condividi.identity import TokenVerifier
from condividi.identity import verifier as verifier_module
from condividi.identity.dev_issuer import DevIssuer

ISSUER = "https://idp.example/"
AUDIENCE = "condividi"


class KeySet:
    """The identity provider's JWKS endpoint, whose keys a test can change."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0

    def answer(self, _: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys})


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "key.pem", issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def key_set(issuer: DevIssuer) -> KeySet:
    return KeySet(issuer.jwks()["keys"])


@pytest_asyncio.fixture
async def verifier(key_set: KeySet) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(key_set.answer)) as http:
        yield TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://idp.example/jwks", http=http)


def mint(issuer: DevIssuer, subject: str = "employee-1", org: uuid.UUID | None = None, **extra: Any) -> str:
    return issuer.mint(subject=subject, org_id=str(org or uuid.uuid4()), roles=["employee"], **extra)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(ApiError) as error:
        await verifier.verify(token)
    assert error.value.status == 401 and error.value.code == "unauthenticated"
    return error.value.message


async def test_a_verified_token_is_not_verified_again(
    verifier: TokenVerifier, issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k))
    token = mint(issuer)
    first = await verifier.verify(token)
    for _ in range(5):
        assert await verifier.verify(token) == first
    assert len(decoded) == 1
    other = await verifier.verify(mint(issuer, subject="employee-2"))  # another token: verified on its own
    assert other.subject == "employee-2" and len(decoded) == 2


async def test_a_cached_token_is_refused_once_it_expires(
    verifier: TokenVerifier, issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No leeway, so that the test waits two seconds and not thirty.
    monkeypatch.setattr(verifier_module, "_LEEWAY_SECONDS", 0)
    token = mint(issuer, ttl_seconds=2)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    await verifier.verify(token)
    assert await verifier.verify(token)  # from the cache
    await asyncio.sleep(max(0.0, expires - time.time()) + 1.05)
    assert await refused(verifier, token) == "the token has expired"


async def test_a_cached_token_is_refused_once_its_key_is_withdrawn(
    verifier: TokenVerifier, issuer: DevIssuer, key_set: KeySet, tmp_path: Path
) -> None:
    token = mint(issuer)
    await verifier.verify(token)
    # The provider rotates its key out; the hourly refresh reads the new set.
    key_set.keys = DevIssuer(tmp_path / "new.pem", issuer=ISSUER, audience=AUDIENCE).jwks()["keys"]
    verifier._fetched_at -= verifier_module._CACHE_SECONDS + 1
    verifier._attempted_at -= verifier_module._CACHE_SECONDS + 1
    assert await refused(verifier, token) == "the token is signed with a key the issuer does not publish"


async def test_a_revoked_subject_is_refused_cached_token_or_not(verifier: TokenVerifier, issuer: DevIssuer) -> None:
    org = uuid.uuid4()
    cached, fresh = mint(issuer, org=org), mint(issuer, org=org, name="a later token")
    colleague = mint(issuer, subject="employee-2", org=org)
    same_name_elsewhere = mint(issuer)  # employee-1 of another org
    await verifier.verify(cached)
    verifier.revoke_subject(org, "employee-1")
    for token in (cached, fresh):
        assert await refused(verifier, token) == "the caller's access has been revoked"
    assert (await verifier.verify(colleague)).subject == "employee-2"
    assert (await verifier.verify(same_name_elsewhere)).subject == "employee-1"
    verifier.reinstate_subject(org, "employee-1")
    assert (await verifier.verify(cached)).org_id == org


async def test_refused_tokens_are_never_stored(verifier: TokenVerifier, issuer: DevIssuer) -> None:
    header, body, signature = mint(issuer).split(".")
    tampered = f"{header}.{body}.{signature[:-4]}AAAA"
    for _ in range(3):
        await refused(verifier, tampered)
    await refused(verifier, mint(issuer, aud="someone-else"))
    assert len(verifier._verified) == 0


async def test_the_cache_stays_within_its_bytes(key_set: KeySet, issuer: DevIssuer) -> None:
    capacity = 16 * 1024
    async with httpx.AsyncClient(transport=httpx.MockTransport(key_set.answer)) as http:
        small = TokenVerifier(
            issuer=ISSUER, audience=AUDIENCE, jwks_url="https://idp.example/jwks", http=http, cache_bytes=capacity
        )
        tokens = [mint(issuer, subject=f"employee-{n}") for n in range(40)]
        for token in tokens:
            await small.verify(token)
        assert 0 < len(small._verified) < len(tokens)
        assert small._verified.used_bytes <= capacity
        # The oldest went first; the latest is still there, and the evicted ones still verify (again).
        assert small._verified.peek(tokens[-1]) is not None and small._verified.peek(tokens[0]) is None
        assert (await small.verify(tokens[0])).subject == "employee-0"

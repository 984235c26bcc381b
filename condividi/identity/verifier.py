"""Verifies OIDC access tokens: RS256 only, signature against the issuer's JWKS, issuer, audience,
expiry, and the Condividi claims (``org``, ``roles``).

A token verified once is remembered until it expires (``TokenCache``): the same employee's token comes
with every request of a session, and the signature check and claim parsing were the largest share of
a read's CPU after the database (bench/README.md). What the cache must not weaken:

- expiry: an entry is used only before the token's ``exp`` (with the same leeway as a full check);
- the issuer's keys: an entry is used only while the key that signed it is still published and the key
  set was read within the hour, exactly when the full check would pass without a refresh;
- revocation: ``revoke_subject`` refuses every token of a subject from then on, cached or not (the hook
  for member deactivation: whatever learns of it, an event consumer for instance, calls it);
- memory: the cache is bounded in bytes, not entries (condividi/caches.py), since a stranger chooses
  the size of what they send; only tokens that verified are ever stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from condividi.caches import ByteBoundedLRU
from condividi.errors import ApiError, Unauthenticated
from condividi.identity.caller import Caller, Role

log = logging.getLogger(__name__)

_ROLES = {r.value for r in Role}
# A token signed with an unknown key id triggers a JWKS refresh, but not more often than this, so a
# flood of forged tokens cannot turn into a flood of requests to the identity provider.
_MIN_REFRESH_SECONDS = 10.0
_CACHE_SECONDS = 3600.0
# How long held keys stay trusted when the provider cannot be read.
_HOLD_SECONDS = 24 * 3600.0
_LEEWAY_SECONDS = 30
# About 2,500 employees' tokens (a token and its caller take about 1.5 kB).
DEFAULT_TOKEN_CACHE_BYTES = 4 * 1024 * 1024


TOKEN_REQUIRED = "a bearer token is required (Authorization: Bearer <token>)"


def _refused(message: str, *, token_sent: bool = True) -> Unauthenticated:
    return Unauthenticated(message, token_sent=token_sent)


@dataclass(frozen=True, slots=True)
class _Verified:
    caller: Caller
    kid: str
    expires_at: float  # the token's exp, seconds since the epoch


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        http: httpx.AsyncClient,
        cache_bytes: int = DEFAULT_TOKEN_CACHE_BYTES,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._http = http
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0  # last successful read of the key set
        self._attempted_at = 0.0  # last try, successful or not
        self._lock = asyncio.Lock()
        self._verified: ByteBoundedLRU[str, _Verified] = ByteBoundedLRU(cache_bytes)
        # (org, subject) -> when it was revoked; checked on every call, cached token or not.
        self._revoked: dict[tuple[uuid.UUID, str], float] = {}

    def revoke_subject(self, org_id: uuid.UUID, subject: str) -> None:
        """Refuses every token of this subject in this org from now on (a deactivated member)."""
        self._revoked[(org_id, subject)] = time.time()

    def reinstate_subject(self, org_id: uuid.UUID, subject: str) -> None:
        self._revoked.pop((org_id, subject), None)

    def _cached(self, token: str) -> Caller | None:
        entry = self._verified.get(token)
        if entry is None:
            return None
        usable = (
            time.time() <= entry.expires_at + _LEEWAY_SECONDS
            and entry.kid in self._keys
            and time.monotonic() - self._fetched_at <= _CACHE_SECONDS
        )
        # Otherwise the full check decides (and says why it refuses, or refreshes the keys).
        return entry.caller if usable else None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at and now - self._attempted_at < _MIN_REFRESH_SECONDS:
                return  # tried a moment ago, whatever came of it
            if not force and self._keys and now - self._fetched_at < _CACHE_SECONDS:
                return
            self._attempted_at = now
            try:
                response = await self._http.get(self.jwks_url)
                response.raise_for_status()
                body = response.json()
                if not isinstance(body, dict):
                    raise ValueError("the key set is not a JSON object")
                key_set = jwt.PyJWKSet.from_dict(body)
            except (httpx.HTTPError, jwt.PyJWKSetError, ValueError, TypeError) as exc:
                if self._keys and now - self._fetched_at < _HOLD_SECONDS:
                    # Keys we already hold stay good while the provider is briefly unreachable.
                    log.warning("cannot refresh the issuer's keys; keeping the ones held", extra={"error": str(exc)})
                    return
                raise ApiError(503, "identity_provider_unavailable", "cannot read the issuer's keys") from exc
            # Only RSA signing keys can verify an RS256 token; an EC key or an encryption key with a
            # matching kid must not even be tried.
            self._keys = {
                k.key_id: k
                for k in key_set.keys
                if k.key_id and k.key_type == "RSA" and k.public_key_use in (None, "sig")
            }
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> Any:
        if kid not in self._keys or time.monotonic() - self._fetched_at > _CACHE_SECONDS:
            await self._refresh(force=kid not in self._keys)
        if time.monotonic() - self._fetched_at > _HOLD_SECONDS:
            # Not one successful read for a day: keys rotated out meanwhile must not stay trusted.
            raise ApiError(503, "identity_provider_unavailable", "cannot read the issuer's keys")
        key = self._keys.get(kid)
        if key is None:
            raise _refused("the token is signed with a key the issuer does not publish")
        return key

    async def verify_authorization(self, header: str | None) -> Caller:
        """Verifies the token of an ``Authorization: Bearer <token>`` header."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refused(TOKEN_REQUIRED, token_sent=False)
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Caller:
        caller = self._cached(token)
        if caller is None:
            caller = await self._verify_fully(token)
        if self._revoked and (caller.org_id, caller.subject) in self._revoked:
            raise _refused("the caller's access has been revoked")
        return caller

    async def _verify_fully(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise _refused("the token is malformed") from exc
        if header.get("alg") != "RS256":
            raise _refused("the token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refused("the token has no key id (kid)")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _refused("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise _refused("the token is not meant for this audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise _refused("the token comes from an issuer this system does not trust") from exc
        except jwt.InvalidSignatureError as exc:
            raise _refused("the token's signature does not verify") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise _refused(f"the token is not valid: {exc}") from exc
        caller = _caller_from(claims, token)
        # ``require`` above guarantees exp; the key and the caller hold about the token's size again.
        self._verified.put(token, _Verified(caller, kid, float(claims["exp"])), size=3 * len(token))
        return caller


def _caller_from(claims: dict[str, Any], token: str) -> Caller:
    try:
        org_id = uuid.UUID(str(claims.get("org", "")))
    except ValueError as exc:
        raise _refused("the token has no valid 'org' claim") from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _refused("the token's 'roles' claim must be a list of strings")
    return Caller(
        subject=str(claims["sub"]),
        org_id=org_id,
        roles=frozenset(r for r in roles if r in _ROLES),
        token=token,
        name=str(claims.get("name", "")),
        email=str(claims.get("email", "")),
    )

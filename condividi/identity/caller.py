"""The verified caller of a request, and the FastAPI dependencies that produce and check it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from condividi.errors import ApiError, forbidden
from condividi.openapi import bearer, documents_errors


class Role(StrEnum):
    ADMIN = "admin"
    CURATOR = "curator"
    REVIEWER = "reviewer"
    MANAGER = "manager"
    EMPLOYEE = "employee"


@dataclass(frozen=True)
class Caller:
    subject: str
    org_id: uuid.UUID
    roles: frozenset[str]
    token: str
    name: str = ""
    email: str = ""

    def has_any(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)


@dataclass(frozen=True)
class RosterStatus:
    """The roster's word on one person, as a service's own copy holds it (condividi/roster_copy.py)."""

    roles: frozenset[str]
    active: bool


# The roster's word on one subject of an org, or None when the roster has never named them.
RosterLookup = Callable[[uuid.UUID, str], Awaitable[RosterStatus | None]]


def granted_roles(token_roles: frozenset[str], status: RosterStatus | None) -> frozenset[str]:
    """The roles a caller really has: the token's, but never more than the roster grants a known member.
    A subject the roster does not know keeps the token's roles (tokens minted before anyone was on the
    roster, integrations' service accounts)."""
    return token_roles if status is None else token_roles & status.roles


MEMBER_DEACTIVATED = "member_deactivated"


def deactivated() -> ApiError:
    # 403, not 401: the token itself is fine and a new one would be refused alike, so a client must not
    # take this for "log in again".
    return ApiError(403, MEMBER_DEACTIVATED, "this member has been deactivated and may no longer use Condividi")


async def apply_roster(caller: Caller, lookup: RosterLookup | None) -> Caller:
    """The caller as the roster sees them: refused when deactivated, roles cut down to the roster's."""
    if lookup is None:
        return caller
    status = await lookup(caller.org_id, caller.subject)
    if status is None:
        return caller
    if not status.active:
        raise deactivated()
    return dataclasses.replace(caller, roles=granted_roles(caller.roles, status))


@documents_errors(401, 503)  # 503: the identity provider's keys cannot be read
async def current_caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    # ``bearer`` only declares the scheme in OpenAPI; the verifier reads the header itself, so the
    # gateway's websocket path and this one refuse a token in the same words.
    caller: Caller = await request.app.state.verifier.verify_authorization(request.headers.get("authorization"))
    return await apply_roster(caller, getattr(request.app.state, "roster", None))


CallerDep = Annotated[Caller, Depends(current_caller)]


def require_roles(*roles: Role) -> Callable[[Caller], Coroutine[Any, Any, Caller]]:
    """A dependency that lets the call through only for callers holding one of ``roles``."""

    needed = f"this needs one of the roles: {', '.join(r.value for r in roles)}"

    @documents_errors(403, s403=f"Forbidden: {needed}.")
    async def check(caller: CallerDep) -> Caller:
        if not caller.has_any(*roles):
            raise forbidden(needed)
        return caller

    return check

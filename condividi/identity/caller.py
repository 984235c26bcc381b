"""The verified caller of a request, and the FastAPI dependencies that produce and check it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from condividi.errors import forbidden
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


@documents_errors(401, 503)  # 503: the identity provider's keys cannot be read
async def current_caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    # ``bearer`` only declares the scheme in OpenAPI; the verifier reads the header itself, so the
    # gateway's websocket path and this one refuse a token in the same words.
    caller: Caller = await request.app.state.verifier.verify_authorization(request.headers.get("authorization"))
    return caller


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

"""Provisioning tokens: the bearer secrets identity providers use on ``/scim/v2``. A token is 256 random
bits; only its SHA-256 is stored (a fast hash is enough for a secret that cannot be guessed, and it lets
a request find its token with one indexed lookup). It is shown once, when issued or rotated."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlmodel import col, select

from condividi.db import UnitOfWork, utcnow
from services.policy.models import ProvisioningToken

PREFIX = "cdv_scim_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(uow: UnitOfWork, org_id: uuid.UUID) -> tuple[ProvisioningToken, str]:
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ProvisioningToken(org_id=org_id, token_sha256=digest(secret), hint=secret[-4:], created_at=utcnow())
    uow.session.add(row)
    return row, secret


async def org_of(session: object, token: str) -> uuid.UUID | None:
    """The org a live token belongs to, or None (unknown, revoked, or not one of ours)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = await session.scalar(  # type: ignore[attr-defined]
        select(ProvisioningToken).where(
            col(ProvisioningToken.token_sha256) == digest(token), col(ProvisioningToken.revoked_at).is_(None)
        )
    )
    return None if row is None else row.org_id

"""REST for integrators and the gateway on the roster: members with all their attributes, an admin's
deactivation (the kill-switch), provisioning tokens for SCIM, and the CSV import."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlmodel import col, select

from condividi.contracts.policy_pb2 import DeactivationSource
from condividi.db import Database
from condividi.errors import ApiError, not_found
from condividi.identity import Caller, Role, require_roles
from condividi.identity.caller import RosterLookup, RosterStatus
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import csv_import, provisioning
from services.policy.members import announce, touch
from services.policy.models import (
    CsvImportReport,
    Member,
    ProvisioningToken,
    ProvisioningTokenIssued,
    ProvisioningTokenPublic,
    RosterMemberPublic,
)

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
RosterReader = Annotated[Caller, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


def roster_lookup(db: Database) -> RosterLookup:
    """Policy reads the roster itself (the other services read their copy of it)."""

    async def lookup(org_id: uuid.UUID, subject: str) -> RosterStatus | None:
        async with db.read() as session:
            row = (
                await session.execute(
                    select(Member.roles, Member.active).where(
                        col(Member.org_id) == org_id, col(Member.subject) == subject
                    )
                )
            ).first()
        return None if row is None else RosterStatus(frozenset(row[0]), bool(row[1]))

    return lookup


def roster_member(member: Member) -> RosterMemberPublic:
    return RosterMemberPublic.model_validate(member, from_attributes=True)


@router.get("/roster/members", tags=["roster"], operation_id="roster-list-members", responses=error_responses(400))
async def list_roster(
    caller: RosterReader,
    db: DatabaseDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
    before: Before = None,
    active: Annotated[bool | None, Query(description="Only active (true) or deactivated (false) members.")] = None,
) -> Page[RosterMemberPublic]:
    """The org's members with every roster attribute, oldest first (members deleted over SCIM included,
    deactivated)."""
    query = select(Member).where(col(Member.org_id) == caller.org_id)
    if active is not None:
        query = query.where(col(Member.active) == active)
    async with db.read() as session:
        members, next_cursor = await read_page(
            session,
            query,
            sort=Member.created_at,
            row_id=Member.id,
            limit=limit,
            cursor=cursor,
            oldest_first=True,
            before=before,
        )
    return Page[RosterMemberPublic](items=[roster_member(m) for m in members], next_cursor=next_cursor)


@router.get("/roster/members/{member_id}", tags=["roster"], operation_id="roster-get-member")
async def get_roster_member(member_id: uuid.UUID, caller: RosterReader, db: DatabaseDep) -> RosterMemberPublic:
    async with db.read() as session:
        member = await session.get(Member, member_id)
    if member is None or member.org_id != caller.org_id:
        raise not_found("member")
    return roster_member(member)


@router.post(
    "/roster/members/{member_id}/deactivate",
    tags=["roster"],
    operation_id="roster-deactivate-member",
)
async def deactivate_member(member_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> RosterMemberPublic:
    """Offboards a member at once: one ``MemberDeactivated`` event makes every service refuse their token,
    sharing delete their social connections, and policy reject their shares waiting for a decision.
    Deactivating a deactivated member changes nothing."""
    async with db.unit_of_work() as uow:
        member = await uow.session.get(Member, member_id, with_for_update=True)
        if member is None or member.org_id != caller.org_id:
            raise not_found("member")
        if member.active:
            member.active = False
            touch(member)
            await uow.session.flush()
            await announce(uow, member, was_active=True, source=DeactivationSource.DEACTIVATION_SOURCE_ADMIN)
    return roster_member(member)


# --- provisioning tokens ----------------------------------------------------------------------------


def _token_public(row: ProvisioningToken) -> ProvisioningTokenPublic:
    return ProvisioningTokenPublic(id=row.id, hint=row.hint, created_at=row.created_at, revoked_at=row.revoked_at)


@router.post(
    "/provisioning-tokens",
    status_code=status.HTTP_201_CREATED,
    tags=["provisioning-tokens"],
    operation_id="provisioning-tokens-create",
)
async def create_provisioning_token(caller: Admin, db: DatabaseDep) -> ProvisioningTokenIssued:
    """A new token for the org's identity provider to call ``/scim/v2`` with. The secret is in this answer
    only; the service keeps its SHA-256."""
    async with db.unit_of_work() as uow:
        row, secret = provisioning.issue(uow, caller.org_id)
    return ProvisioningTokenIssued(**_token_public(row).model_dump(), token=secret)


@router.get("/provisioning-tokens", tags=["provisioning-tokens"], operation_id="provisioning-tokens-list")
async def list_provisioning_tokens(caller: Admin, db: DatabaseDep) -> list[ProvisioningTokenPublic]:
    """The org's tokens, newest first, without their secrets."""
    async with db.read() as session:
        rows = await session.scalars(
            select(ProvisioningToken)
            .where(col(ProvisioningToken.org_id) == caller.org_id)
            .order_by(col(ProvisioningToken.created_at).desc())
            .limit(100)
        )
        return [_token_public(r) for r in rows]


@router.post(
    "/provisioning-tokens/{token_id}/rotate",
    tags=["provisioning-tokens"],
    operation_id="provisioning-tokens-rotate",
    responses=error_responses(409, s409="The token was rotated or revoked already."),
)
async def rotate_provisioning_token(token_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> ProvisioningTokenIssued:
    """Revokes the token and issues its successor in one step; the old secret stops working at once."""
    async with db.unit_of_work() as uow:
        old = await uow.session.get(ProvisioningToken, token_id, with_for_update=True)
        if old is None or old.org_id != caller.org_id:
            raise not_found("provisioning token")
        if old.revoked_at is not None:
            raise ApiError(409, "conflict", "this token was rotated or revoked already")
        row, secret = provisioning.issue(uow, caller.org_id)
        old.revoked_at = row.created_at
    return ProvisioningTokenIssued(**_token_public(row).model_dump(), token=secret)


# --- CSV import -------------------------------------------------------------------------------------


@router.post(
    "/roster/imports",
    tags=["roster"],
    operation_id="roster-import-csv",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string", "minLength": 1, "description": "See docs/roster.md for the columns."}
                }
            },
        }
    },
)
async def import_csv(
    request: Request,
    caller: Admin,
    db: DatabaseDep,
    dry_run: Annotated[bool, Query(description="Check every row and report, changing nothing.")] = True,
) -> CsvImportReport:
    """Imports the roster from CSV (columns in docs/roster.md). A dry run reports every bad row with its
    line and reason and changes nothing. An apply is all-or-nothing: any bad row answers 422 with the
    rows in ``details`` and changes nothing; the same file applied twice changes nothing the second time."""
    raw = await request.body()
    if not raw:
        # No file at all is a malformed request; an empty file (a header line missing) is a bad row below.
        missing = [{"loc": ["body"], "message": "required"}]
        raise ApiError(422, "validation_failed", "the request has no CSV file", missing)
    if len(raw) > csv_import.MAX_BYTES:
        raise ApiError(413, "payload_too_large", f"the file is larger than {csv_import.MAX_BYTES} bytes")
    return await csv_import.run(db, caller.org_id, raw, dry_run=dry_run)

"""REST API of the audit log (read, verify, export), its retention period, and the near-duplicate
guard's settings (issue 8, items 9, 13 and 14). Admins only: the log holds every member's posts."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from condividi.db import utcnow
from condividi.errors import ApiError
from condividi.identity import Caller, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import audit, near_duplicates
from services.policy.audit_models import (
    DEFAULT_RETENTION_DAYS,
    AuditEntry,
    AuditEntryPublic,
    AuditRetention,
    AuditVerification,
    NearDuplicateSettingsPublic,
    NearDuplicateSettingsRecord,
    NearDuplicateSettingsUpdate,
    RetentionPublic,
    RetentionUpdate,
)

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
# Reviewers see the settings that send posts to them; only admins change them.
SettingsReader = Annotated[Caller, Depends(require_roles(Role.ADMIN, Role.REVIEWER))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]
# An export longer than this is asked for in pieces: a request is not a way to stream a decade.
MAX_EXPORT_DAYS = 366


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


# --- the log ------------------------------------------------------------------------------------


@router.get("/audit/entries", tags=["audit"], operation_id="audit-entries-list", responses=error_responses(400))
async def list_audit_entries(
    caller: Admin,
    db: DatabaseDep,
    kind: Annotated[
        str | None, Query(max_length=64, description='Only entries of this kind ("share.decided").')
    ] = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
    before: Before = None,
) -> Page[AuditEntryPublic]:
    """The org's audit entries, newest first."""
    query = select(AuditEntry).where(col(AuditEntry.org_id) == caller.org_id)
    if kind is not None:
        query = query.where(col(AuditEntry.kind) == kind)
    async with db.read() as session:
        entries, next_cursor = await read_page(
            session,
            query,
            sort=AuditEntry.recorded_at,
            row_id=AuditEntry.id,
            limit=limit,
            cursor=cursor,
            before=before,
        )
    return Page[AuditEntryPublic](
        items=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries], next_cursor=next_cursor
    )


@router.get("/audit/verification", tags=["audit"], operation_id="audit-verification-get")
async def verify_audit_chain(caller: Admin, db: DatabaseDep) -> AuditVerification:
    """Walks the org's whole chain, recomputing every hash, and names the first entry that was changed,
    deleted or does not follow the one before it. Takes time proportional to the chain's length."""
    async with db.read() as session:
        return await audit.verify(session, caller.org_id)


@router.get(
    "/audit/export",
    tags=["audit"],
    operation_id="audit-export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "One entry per line, in the chain's order, streamed.",
        },
        **error_responses(
            422, s422=f"`until` is not after `since`, or the range is longer than {MAX_EXPORT_DAYS} days."
        ),
    },
)
async def export_audit_entries(
    caller: Admin,
    db: DatabaseDep,
    since: Annotated[datetime, Query(description="Entries recorded at or after this time (ISO 8601, with zone).")],
    until: Annotated[datetime, Query(description="Entries recorded before this time.")],
    format: ExportFormat = ExportFormat.JSONL,
) -> StreamingResponse:
    """The retention export: each decision with the share's text as submitted, the rules it met, the
    outcome, who decided and when, and every other entry of the range, each with its hash and the hash
    before it, so an auditor can recompute the chain (docs/audit.md). Streamed from the database."""
    _check_range(since, until)
    media = "text/csv; charset=utf-8" if format is ExportFormat.CSV else "application/x-ndjson"
    name = f"audit-{since:%Y%m%d}-{until:%Y%m%d}.{format.value}"
    return StreamingResponse(
        audit.export_lines(db, caller.org_id, since, until, format.value),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _check_range(since: datetime, until: datetime) -> None:
    def invalid(field: str, message: str) -> ApiError:
        return ApiError(422, "validation_failed", message, [{"loc": ["query", field], "message": message}])

    for field, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise invalid(field, "give the time with its zone (e.g. 2026-01-01T00:00:00Z)")
    span = until - since
    if span <= timedelta(0):
        raise invalid("until", "`until` must be after `since`")
    if span > timedelta(days=MAX_EXPORT_DAYS):
        raise invalid("until", f"export at most {MAX_EXPORT_DAYS} days at a time")


# --- retention ------------------------------------------------------------------------------------


@router.get("/audit/retention", tags=["audit"], operation_id="audit-retention-get")
async def get_retention(caller: Admin, db: DatabaseDep) -> RetentionPublic:
    async with db.read() as session:
        record = await session.get(AuditRetention, caller.org_id)
    if record is None:
        return RetentionPublic(retention_days=DEFAULT_RETENTION_DAYS, updated_by=None, updated_at=None)
    return RetentionPublic.model_validate(record, from_attributes=True)


@router.put("/audit/retention", tags=["audit"], operation_id="audit-retention-update")
async def update_retention(body: RetentionUpdate, caller: Admin, db: DatabaseDep) -> RetentionPublic:
    """Sets how long the org's audit entries are kept; the change is itself an audit entry."""
    now = utcnow()
    values = {"retention_days": body.retention_days, "updated_by": caller.subject, "updated_at": now}
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            insert(AuditRetention)
            .values(org_id=caller.org_id, **values)
            .on_conflict_do_update(index_elements=["org_id"], set_=values)
        )
        await audit.record(
            uow, caller.org_id, audit.RETENTION_CHANGED, caller.org_id, caller.subject, body.model_dump(mode="json")
        )
    return RetentionPublic(**values)


# --- near-duplicates ------------------------------------------------------------------------------


@router.get("/compliance/near-duplicates", tags=["compliance"], operation_id="compliance-near-duplicates-get")
async def get_near_duplicate_settings(caller: SettingsReader, db: DatabaseDep) -> NearDuplicateSettingsPublic:
    """How posts nearly identical to a colleague's are treated (the defaults until an admin sets them)."""
    async with db.read() as session:
        record = await session.get(NearDuplicateSettingsRecord, caller.org_id)
    if record is None:
        defaults = near_duplicates.DEFAULTS
        return NearDuplicateSettingsPublic(
            enabled=defaults.enabled,
            threshold=defaults.threshold,
            window_days=defaults.window_days,
            action=defaults.action,
            updated_by=None,
            updated_at=None,
        )
    return NearDuplicateSettingsPublic.model_validate(record, from_attributes=True)


@router.put("/compliance/near-duplicates", tags=["compliance"], operation_id="compliance-near-duplicates-update")
async def update_near_duplicate_settings(
    body: NearDuplicateSettingsUpdate, caller: Admin, db: DatabaseDep
) -> NearDuplicateSettingsPublic:
    """Sets the threshold, the window and the action (reject, review, warn); an audit entry records it."""
    now = utcnow()
    values = {**body.model_dump(mode="json"), "updated_by": caller.subject, "updated_at": now}
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            insert(NearDuplicateSettingsRecord)
            .values(org_id=caller.org_id, **values)
            .on_conflict_do_update(index_elements=["org_id"], set_=values)
        )
        await audit.record(
            uow,
            caller.org_id,
            audit.NEAR_DUPLICATES_CHANGED,
            caller.org_id,
            caller.subject,
            body.model_dump(mode="json"),
        )
    return NearDuplicateSettingsPublic(**values)

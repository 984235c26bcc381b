"""REST API of the compliance rules (issue 8): admins write them, reviewers and admins read them. A rule
that cannot work (``compliance.refusals``: an empty phrase, a pattern that does not compile or runs too
long, one that would block every post, overlapping quiet periods...) answers 422 with the reason at the
field concerned, and nothing is saved."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import UnitOfWork, utcnow
from condividi.errors import ApiError, not_found
from condividi.identity import Caller, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import audit, compliance
from services.policy.compliance import RuleKind
from services.policy.compliance_models import (
    ComplianceRulePublic,
    ComplianceRuleRecord,
    ComplianceRuleWrite,
    config_of,
    config_problems,
    public_of,
    rule_of,
)
from services.policy.compliance_store import load_rules
from services.policy.models import Team

router = APIRouter(prefix="/api/v1/compliance", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
Reader = Annotated[Caller, Depends(require_roles(Role.REVIEWER, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]

_S404_TEAM = "`team_id` names no team of the org."


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    tags=["compliance-rules"],
    operation_id="compliance-rules-create",
    responses=error_responses(404, s404=_S404_TEAM),
)
async def create_rule(body: ComplianceRuleWrite, caller: Admin, db: DatabaseDep) -> ComplianceRulePublic:
    """Adds a rule. 422 with the reason when it cannot work or would block everything; nothing is saved."""
    now = utcnow()
    record = ComplianceRuleRecord(
        org_id=caller.org_id, created_by=caller.subject, created_at=now, updated_at=now, **_fields(body)
    )
    async with db.unit_of_work() as uow:
        await _check(uow.session, caller.org_id, body, record)
        uow.session.add(record)
        await uow.session.flush()
        await _audit(uow, caller, record, "created")
    return public_of(record)


@router.get("/rules", tags=["compliance-rules"], operation_id="compliance-rules-list", responses=error_responses(400))
async def list_rules(
    caller: Reader,
    db: DatabaseDep,
    kind: RuleKind | None = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
    before: Before = None,
) -> Page[ComplianceRulePublic]:
    """The org's rules, oldest first; ``kind`` keeps one kind."""
    query = select(ComplianceRuleRecord).where(col(ComplianceRuleRecord.org_id) == caller.org_id)
    if kind is not None:
        query = query.where(col(ComplianceRuleRecord.kind) == kind.value)
    async with db.read() as session:
        records, next_cursor = await read_page(
            session,
            query,
            sort=ComplianceRuleRecord.created_at,
            row_id=ComplianceRuleRecord.id,
            limit=limit,
            cursor=cursor,
            oldest_first=True,
            before=before,
        )
    return Page[ComplianceRulePublic](items=[public_of(r) for r in records], next_cursor=next_cursor)


@router.get("/rules/{rule_id}", tags=["compliance-rules"], operation_id="compliance-rules-get")
async def get_rule(rule_id: uuid.UUID, caller: Reader, db: DatabaseDep) -> ComplianceRulePublic:
    async with db.read() as session:
        record = await _own(session, caller.org_id, rule_id)
    return public_of(record)


@router.put(
    "/rules/{rule_id}",
    tags=["compliance-rules"],
    operation_id="compliance-rules-replace",
    responses=error_responses(404, s404="No such rule, or `team_id` names no team of the org."),
)
async def replace_rule(
    rule_id: uuid.UUID, body: ComplianceRuleWrite, caller: Admin, db: DatabaseDep
) -> ComplianceRulePublic:
    """Replaces a rule whole (its kind may change); the same checks as on creation."""
    async with db.unit_of_work() as uow:
        record = await _own(uow.session, caller.org_id, rule_id)
        for name, value in _fields(body).items():
            setattr(record, name, value)
        record.updated_at = utcnow()
        await _check(uow.session, caller.org_id, body, record)
        await _audit(uow, caller, record, "replaced")
    return public_of(record)


@router.delete(
    "/rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["compliance-rules"],
    operation_id="compliance-rules-delete",
)
async def delete_rule(rule_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> Response:
    """Removes a rule: shares decided from now on are not judged by it."""
    async with db.unit_of_work() as uow:
        record = await _own(uow.session, caller.org_id, rule_id)
        await _audit(uow, caller, record, "deleted")
        await uow.session.delete(record)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- helpers ---------------------------------------------------------------------------------------


async def _audit(uow: UnitOfWork, caller: Caller, record: ComplianceRuleRecord, change: str) -> None:
    """Every rule change is an entry of the org's audit chain, in the change's own transaction."""
    rule = public_of(record).model_dump(mode="json")
    await audit.record(
        uow, caller.org_id, audit.RULE_CHANGED, record.id, caller.subject, {"change": change, "rule": rule}
    )


def _fields(body: ComplianceRuleWrite) -> dict[str, Any]:
    return {
        "kind": body.kind.value,
        "action": body.action.value,
        "message": body.message,
        "network": body.network.value if body.network is not None else None,
        "campaign_id": body.campaign_id,
        "team_id": body.team_id,
        "config": config_of(body),
    }


async def _own(session: AsyncSession, org_id: uuid.UUID, rule_id: uuid.UUID) -> ComplianceRuleRecord:
    record = await session.get(ComplianceRuleRecord, rule_id)
    if record is None or record.org_id != org_id:
        raise not_found("compliance rule")
    return record


async def _check(
    session: AsyncSession, org_id: uuid.UUID, body: ComplianceRuleWrite, record: ComplianceRuleRecord
) -> None:
    problems = config_problems(body)
    if problems:
        raise ApiError(422, "validation_failed", problems[0]["message"], problems)
    if body.team_id is not None:
        team = await session.get(Team, body.team_id)
        if team is None or team.org_id != org_id:
            raise not_found("team", ["body", "team_id"])
    # One writer of an org's rules at a time, so two admins cannot each add one of two overlapping
    # quiet periods.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('compliance_rules:' || :org))"), {"org": str(org_id)}
    )
    others = await load_rules(session, org_id)
    refused = compliance.refusals(rule_of(record), [o for o in others if o.id != record.id])
    if refused:
        details = [{"loc": ["body", *r.loc], "message": r.message} for r in refused]
        raise ApiError(422, "validation_failed", refused[0].message, details)

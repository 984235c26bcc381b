"""REST API of the policy service: the live policy check, share decisions, and the roster."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col, select

from condividi.contracts.policy_pb2 import DeactivationSource, TeamChanged
from condividi.db import utcnow
from condividi.errors import conflict, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import near_duplicates, rules
from services.policy.compliance_models import FindingPublic, finding_public
from services.policy.compliance_store import load_context, tracking_host
from services.policy.members import announce
from services.policy.models import (
    Member,
    MemberCreate,
    MemberPublic,
    PolicyCheckRequest,
    PolicyCheckResult,
    ShareDecisionPublic,
    ShareDecisionRecord,
    Team,
    TeamCreate,
    TeamPublic,
    ViolationPublic,
)
from services.policy.settings import PolicySettings
from services.policy.standing import load_standing

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
RosterReader = Annotated[Caller, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


# Tracking codes all have this length (sharing.links.new_tracking_code), so any such code measures alike.
_SAMPLE_CODE = "x" * 8

# --- policy checks and decisions ----------------------------------------------------------------


@router.post("/policy-checks", tags=["policy-checks"], operation_id="policy-checks-create")
async def check_post(
    body: PolicyCheckRequest, caller: CallerDep, request: Request, db: DatabaseDep
) -> PolicyCheckResult:
    """Checks a post while the employee writes it, with the same rules (``rules.check``) that decide the
    share once it is submitted, so the live answer and the decision cannot drift apart. Without a
    ``url``, the post is measured with a tracking link, which is what a share will carry."""
    settings: PolicySettings = request.app.state.runtime.settings
    url = body.url if body.url is not None else f"{settings.PUBLIC_BASE_URL.rstrip('/')}/r/{_SAMPLE_CODE}"
    # The caller's standing (policy accepted? certified?) and the compliance context (the org's rules, the
    # caller's teams and recent shares) from the same loaders the decision uses.
    async with db.read() as session:
        standing = await load_standing(session, caller.org_id, caller.subject)
        context = await load_context(
            session,
            caller.org_id,
            caller.subject,
            now=utcnow(),
            campaign_id=str(body.campaign_id) if body.campaign_id is not None else None,
            required_disclosure=body.required_disclosure,
            personal_touch=body.personal_touch,
            tracking_host=tracking_host(settings.PUBLIC_BASE_URL),
        )
        verdict = rules.check(body.network, body.text, url, standing, context)
        findings = list(verdict.findings)
        duplicate = None
        if verdict.outcome is not rules.Outcome.REJECTED:
            # The same guard, with the same settings, as the decision (handlers.decide_share).
            duplicate, _ = await near_duplicates.check(
                session, caller.org_id, body.network.value, caller.subject, body.text, utcnow()
            )
        outcome = near_duplicates.apply(findings, duplicate)
    violations = [f for f in findings if f.blocking]
    return PolicyCheckResult(
        allowed=outcome == rules.Outcome.APPROVED,
        outcome=outcome,
        violations=[ViolationPublic(code=v.code, message=v.message) for v in violations],
        length=verdict.length,
        limit=verdict.limit,
        findings=[finding_public(f) for f in findings],
    )


@router.get("/share-decisions/{share_id}", tags=["share-decisions"], operation_id="share-decisions-get")
async def get_share_decision(share_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> ShareDecisionPublic:
    """The decision on a share: the employee's own, or any in the org for reviewers and admins."""
    async with db.read() as session:
        decision = await session.get(ShareDecisionRecord, share_id)
    # Another org's share, and a colleague's share for an employee, answer exactly like a missing one.
    if decision is None or decision.org_id != caller.org_id:
        raise not_found("share decision")
    if decision.member_id != caller.subject and not caller.has_any(Role.REVIEWER, Role.ADMIN):
        raise not_found("share decision")
    return ShareDecisionPublic(
        share_id=decision.share_id,
        member_id=decision.member_id,
        outcome=decision.outcome,
        violations=[ViolationPublic.model_validate(v) for v in decision.violations],
        decided_at=decision.decided_at,
        findings=[FindingPublic.model_validate(f) for f in decision.findings],
    )


# --- roster -------------------------------------------------------------------------------------


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    tags=["teams"],
    operation_id="teams-create",
    responses=error_responses(409, s409="The org already has a team of that name."),
)
async def create_team(body: TeamCreate, caller: Admin, db: DatabaseDep) -> TeamPublic:
    team_id, now = uuid.uuid4(), utcnow()
    async with db.unit_of_work() as uow:
        # ON CONFLICT rather than catching IntegrityError: a duplicate is an expected answer (409), not a
        # failed transaction.
        created = await uow.session.scalar(
            insert(Team)
            .values(id=team_id, org_id=caller.org_id, name=body.name, created_at=now)
            .on_conflict_do_nothing(index_elements=["org_id", "name"])
            .returning(col(Team.id))
        )
        if created is not None:
            uow.emit(TeamChanged(team_id=str(team_id), name=body.name), org_id=caller.org_id, aggregate_id=team_id)
    if created is None:
        async with db.read() as session:
            existing = await session.scalar(
                select(Team.id).where(col(Team.org_id) == caller.org_id, col(Team.name) == body.name)
            )
        raise conflict(f"the org already has a team named {body.name!r}", existing)
    return TeamPublic(id=team_id, name=body.name, created_at=now)


@router.get("/teams", tags=["teams"], operation_id="teams-list", responses=error_responses(400))
async def list_teams(
    caller: CallerDep, db: DatabaseDep, limit: PageSize = 50, cursor: Cursor = None, before: Before = None
) -> Page[TeamPublic]:
    """The org's teams, oldest first."""
    query = select(Team).where(col(Team.org_id) == caller.org_id)
    async with db.read() as session:
        teams, next_cursor = await read_page(
            session,
            query,
            sort=Team.created_at,
            row_id=Team.id,
            limit=limit,
            cursor=cursor,
            oldest_first=True,
            before=before,
        )
    return Page[TeamPublic](items=[_team_public(t) for t in teams], next_cursor=next_cursor)


@router.get("/teams/{team_id}", tags=["teams"], operation_id="teams-get")
async def get_team(team_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> TeamPublic:
    async with db.read() as session:
        team = await session.get(Team, team_id)
    if team is None or team.org_id != caller.org_id:
        raise not_found("team")
    return _team_public(team)


@router.post(
    "/members",
    status_code=status.HTTP_201_CREATED,
    tags=["members"],
    operation_id="members-create",
    responses=error_responses(
        404, 409, s404="`team_id` names no team of the org.", s409="The org already has a member with that subject."
    ),
)
async def create_member(body: MemberCreate, caller: Admin, db: DatabaseDep) -> MemberPublic:
    member = Member(
        org_id=caller.org_id,
        subject=body.subject,
        email=body.email,
        name=body.name,
        team_id=body.team_id,
        roles=[role.value for role in body.roles],
        created_at=utcnow(),
        team_ids=[body.team_id] if body.team_id is not None else [],
    )
    async with db.unit_of_work() as uow:
        if body.team_id is not None:
            team = await uow.session.get(Team, body.team_id)
            # A team of another org answers like a missing one.
            if team is None or team.org_id != caller.org_id:
                raise not_found("team", ["body", "team_id"])
        created = await uow.session.scalar(
            insert(Member)
            .values(_columns(member))
            .on_conflict_do_nothing(index_elements=["org_id", "subject"])
            .returning(col(Member.id))
        )
        if created is not None:
            await announce(uow, member, was_active=True, source=DeactivationSource.DEACTIVATION_SOURCE_ADMIN)
    if created is None:
        async with db.read() as session:
            existing = await session.scalar(
                select(Member.id).where(col(Member.org_id) == caller.org_id, col(Member.subject) == body.subject)
            )
        raise conflict(f"the org already has a member with subject {body.subject!r}", existing)
    return _member_public(member)


@router.get("/members", tags=["members"], operation_id="members-list", responses=error_responses(400))
async def list_members(
    caller: RosterReader, db: DatabaseDep, limit: PageSize = 50, cursor: Cursor = None, before: Before = None
) -> Page[MemberPublic]:
    """The org's roster, oldest first."""
    query = select(Member).where(col(Member.org_id) == caller.org_id)
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
    return Page[MemberPublic](items=[_member_public(m) for m in members], next_cursor=next_cursor)


@router.get(
    "/members/me",
    tags=["members"],
    operation_id="members-get-me",
    responses=error_responses(404, s404="The caller is not on the roster yet."),
)
async def get_my_member(caller: CallerDep, db: DatabaseDep) -> MemberPublic:
    """The caller's own roster entry; 404 until an admin (or SCIM, later) has added them."""
    query = select(Member).where(col(Member.org_id) == caller.org_id, col(Member.subject) == caller.subject)
    async with db.read() as session:
        member = await session.scalar(query)
    if member is None:
        raise not_found("member")
    return _member_public(member)


@router.get("/members/{member_id}", tags=["members"], operation_id="members-get")
async def get_member(member_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> MemberPublic:
    """One roster entry: any of the org's for admins and managers, one's own for everyone."""
    async with db.read() as session:
        member = await session.get(Member, member_id)
    # Another org's member, and a colleague for a caller who may not read the roster, answer like a missing one.
    if member is None or member.org_id != caller.org_id:
        raise not_found("member")
    if member.subject != caller.subject and not caller.has_any(Role.ADMIN, Role.MANAGER):
        raise not_found("member")
    return _member_public(member)


# --- helpers ------------------------------------------------------------------------------------


def _team_public(team: Team) -> TeamPublic:
    return TeamPublic(id=team.id, name=team.name, created_at=team.created_at)


def _member_public(member: Member) -> MemberPublic:
    return MemberPublic.model_validate(member, from_attributes=True)


def _columns(row: SQLModel) -> dict[str, Any]:
    return {name: getattr(row, name) for name in type(row).model_fields}

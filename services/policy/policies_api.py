"""REST API of the social-media policy: versions drafted and published by admins, each member's own
acknowledgement, the caller's status, and the progress and CSV export admins read."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import utcnow
from condividi.errors import ApiError, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import audit, governance
from services.policy.models import (
    AcknowledgementCreate,
    AcknowledgementPublic,
    Member,
    MyPolicyStatus,
    PolicyAcknowledgement,
    PolicyProgressPublic,
    PolicyPublish,
    PolicyStatus,
    PolicyVersion,
    PolicyVersionCreate,
    PolicyVersionPublic,
    Team,
    TeamProgressPublic,
)
from services.policy.standing import current_policy, member_placement, requirement_of, roster, target_of

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post(
    "/policy-versions",
    status_code=status.HTTP_201_CREATED,
    tags=["policy-versions"],
    operation_id="policy-versions-create",
)
async def draft_policy_version(body: PolicyVersionCreate, caller: Admin, db: DatabaseDep) -> PolicyVersionPublic:
    """Drafts the next version of the org's social-media policy (Markdown). Nobody but admins sees a draft."""
    async with db.unit_of_work() as uow:
        # Numbers are handed out one at a time per org: two admins drafting at once get v4 and v5, not a
        # unique-constraint failure.
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('policy_versions:' || :org))"), {"org": str(caller.org_id)}
        )
        latest = await uow.session.scalar(
            select(func.max(PolicyVersion.version)).where(col(PolicyVersion.org_id) == caller.org_id)
        )
        version = PolicyVersion(
            org_id=caller.org_id,
            version=(latest or 0) + 1,
            title=body.title,
            body=body.body,
            content_hash=governance.content_hash(body.title, body.body),
            status=PolicyStatus.DRAFT,
            requires_acknowledgement=False,
            target_team_ids=[],
            target_locations=[],
            created_by=caller.subject,
            created_at=utcnow(),
        )
        uow.session.add(version)
    return version_public(version)


@router.get(
    "/policy-versions", tags=["policy-versions"], operation_id="policy-versions-list", responses=error_responses(400)
)
async def list_policy_versions(
    caller: CallerDep, db: DatabaseDep, limit: PageSize = 50, cursor: Cursor = None, before: Before = None
) -> Page[PolicyVersionPublic]:
    """The policy's versions, newest first: all of them for admins, the published ones for everyone else."""
    query = select(PolicyVersion).where(col(PolicyVersion.org_id) == caller.org_id)
    if not caller.has_any(Role.ADMIN):
        query = query.where(col(PolicyVersion.status) == PolicyStatus.PUBLISHED)
    async with db.read() as session:
        versions, next_cursor = await read_page(
            session,
            query,
            sort=PolicyVersion.created_at,
            row_id=PolicyVersion.id,
            limit=limit,
            cursor=cursor,
            before=before,
        )
    return Page[PolicyVersionPublic](items=[version_public(v) for v in versions], next_cursor=next_cursor)


@router.get("/policy-versions/{version_id}", tags=["policy-versions"], operation_id="policy-versions-get")
async def get_policy_version(version_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> PolicyVersionPublic:
    async with db.read() as session:
        version = await _visible_version(session, version_id, caller)
    return version_public(version)


@router.post(
    "/policy-versions/{version_id}/publish",
    tags=["policy-versions"],
    operation_id="policy-versions-publish",
    responses=error_responses(
        404, 409, s404="No such version, or `team_ids` names no team of the org.", s409="The version is published."
    ),
)
async def publish_policy_version(
    version_id: uuid.UUID, body: PolicyPublish, caller: Admin, db: DatabaseDep
) -> PolicyVersionPublic:
    """Makes a draft the policy in force. With ``requires_acknowledgement`` the members concerned (everyone,
    or the members of ``team_ids`` and those at ``locations``) cannot share until they have accepted it."""
    team_ids = list(dict.fromkeys(body.team_ids))
    locations = governance.distinct_locations(body.locations)
    async with db.unit_of_work() as uow:
        version = await uow.session.get(PolicyVersion, version_id, with_for_update=True)
        if version is None or version.org_id != caller.org_id:
            raise not_found("policy version")
        if team_ids:
            found = await uow.session.scalars(
                select(Team.id).where(col(Team.org_id) == caller.org_id, col(Team.id).in_(team_ids))
            )
            # A team of another org answers like a missing one.
            if set(found.all()) != set(team_ids):
                raise not_found("team", ["body", "team_ids"])
        if version.status == PolicyStatus.PUBLISHED:
            raise ApiError(409, "already_published", f"version {version.version} is already published")
        version.status = PolicyStatus.PUBLISHED
        version.published_at = utcnow()
        version.requires_acknowledgement = body.requires_acknowledgement
        version.target_team_ids = team_ids
        version.target_locations = locations
        await audit.record(
            uow,
            caller.org_id,
            audit.POLICY_PUBLISHED,
            version.id,
            caller.subject,
            {
                "version": version.version,
                "title": version.title,
                "content_hash": version.content_hash,
                "requires_acknowledgement": version.requires_acknowledgement,
                "target_team_ids": [str(t) for t in team_ids],
                "target_locations": locations,
            },
        )
    return version_public(version)


@router.get(
    "/policy-versions/{version_id}/progress",
    tags=["policy-versions"],
    operation_id="policy-versions-progress",
)
async def policy_progress(version_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> PolicyProgressPublic:
    """How many of the members concerned by the version have accepted it, team by team."""
    async with db.read() as session:
        version = await _visible_version(session, version_id, caller)
        entries, names = await roster(session, caller.org_id)
        done = await session.scalars(
            select(PolicyAcknowledgement.member_subject).where(
                col(PolicyAcknowledgement.org_id) == caller.org_id,
                col(PolicyAcknowledgement.content_hash) == version.content_hash,
            )
        )
        figures = governance.progress(entries, names, set(done.all()), target_of(version))
    return PolicyProgressPublic(policy_version_id=version.id, **progress_fields(figures))


@router.get(
    "/policy-versions/{version_id}/acknowledgements.csv",
    tags=["policy-versions"],
    operation_id="policy-versions-export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per acknowledgement, oldest first."}},
)
async def export_acknowledgements(version_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> Response:
    """Who accepted the version, with the content hash and the time, as CSV (RFC 4180) for the records."""
    async with db.read() as session:
        version = await _visible_version(session, version_id, caller)
        rows = (
            await session.execute(
                select(PolicyAcknowledgement, Member.email, Member.name)
                .outerjoin(
                    Member,
                    (col(Member.org_id) == col(PolicyAcknowledgement.org_id))
                    & (col(Member.subject) == col(PolicyAcknowledgement.member_subject)),
                )
                .where(
                    col(PolicyAcknowledgement.org_id) == caller.org_id,
                    col(PolicyAcknowledgement.policy_version_id) == version.id,
                )
                .order_by(col(PolicyAcknowledgement.acknowledged_at), col(PolicyAcknowledgement.id))
            )
        ).all()
    document = governance.acknowledgements_csv(
        governance.AcknowledgementRow(
            ack.member_subject,
            email or "",
            name or "",
            ack.policy_version_id,
            ack.version,
            ack.content_hash,
            ack.acknowledged_at,
        )
        for ack, email, name in rows
    )
    filename = f"policy-v{version.version}-acknowledgements.csv"
    return Response(
        document,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/policy-acknowledgements",
    status_code=status.HTTP_201_CREATED,
    tags=["policy-acknowledgements"],
    operation_id="policy-acknowledgements-create",
    responses=error_responses(
        404,
        409,
        s404="No published version of that id.",
        s409="The version is not the one in force, or its text is not the one the caller read.",
    ),
)
async def acknowledge_policy(
    body: AcknowledgementCreate, caller: CallerDep, db: DatabaseDep, response: Response
) -> AcknowledgementPublic:
    """The caller accepts a version of the policy, for themselves only: the member is the token's subject
    and the body cannot name anyone else. Accepting twice answers the first acknowledgement (200)."""
    now = utcnow()
    async with db.unit_of_work() as uow:
        version = await uow.session.get(PolicyVersion, body.policy_version_id)
        if version is None or version.org_id != caller.org_id or version.status != PolicyStatus.PUBLISHED:
            raise not_found("policy version")
        current = await current_policy(uow.session, caller.org_id)
        if current is None or current.id != version.id:
            raise ApiError(
                409,
                "policy_version_superseded",
                f"version {version.version} is no longer in force; read the current one",
            )
        if body.content_hash is not None and body.content_hash != version.content_hash:
            raise ApiError(409, "policy_text_changed", "the policy's text is not the one you read; read it again")
        ack_id = await uow.session.scalar(
            insert(PolicyAcknowledgement)
            .values(
                id=uuid.uuid4(),
                org_id=caller.org_id,
                policy_version_id=version.id,
                member_subject=caller.subject,
                version=version.version,
                content_hash=version.content_hash,
                acknowledged_at=now,
            )
            .on_conflict_do_nothing(constraint="policy_acknowledgements_once")
            .returning(col(PolicyAcknowledgement.id))
        )
        existing = await uow.session.scalar(
            select(PolicyAcknowledgement).where(
                col(PolicyAcknowledgement.org_id) == caller.org_id,
                col(PolicyAcknowledgement.policy_version_id) == version.id,
                col(PolicyAcknowledgement.member_subject) == caller.subject,
            )
        )
    if ack_id is None:
        response.status_code = status.HTTP_200_OK
    assert existing is not None  # inserted or already there, in this transaction
    return AcknowledgementPublic.model_validate(existing, from_attributes=True)


@router.get("/policy-status", tags=["policy-status"], operation_id="policy-status-get")
async def my_policy_status(caller: CallerDep, db: DatabaseDep) -> MyPolicyStatus:
    """The policy in force and where the caller stands with it."""
    async with db.read() as session:
        current = await current_policy(session, caller.org_id)
        if current is None:
            return MyPolicyStatus(current=None, required=False, acknowledged=False, acknowledged_at=None)
        requirement = requirement_of(current)
        teams, location = await member_placement(session, caller.org_id, caller.subject)
        acknowledged_at = await session.scalar(
            select(func.min(PolicyAcknowledgement.acknowledged_at)).where(
                col(PolicyAcknowledgement.org_id) == caller.org_id,
                col(PolicyAcknowledgement.member_subject) == caller.subject,
                col(PolicyAcknowledgement.content_hash) == current.content_hash,
            )
        )
    return MyPolicyStatus(
        current=version_public(current),
        required=requirement is not None and requirement.applies_to(teams, location),
        acknowledged=acknowledged_at is not None,
        acknowledged_at=acknowledged_at,
    )


# --- helpers ------------------------------------------------------------------------------------


async def _visible_version(session: AsyncSession, version_id: uuid.UUID, caller: Caller) -> PolicyVersion:
    version = await session.get(PolicyVersion, version_id)
    # Another org's version, and a draft for a non-admin, answer exactly like a missing one.
    if version is None or version.org_id != caller.org_id:
        raise not_found("policy version")
    if version.status != PolicyStatus.PUBLISHED and not caller.has_any(Role.ADMIN):
        raise not_found("policy version")
    return version


def version_public(version: PolicyVersion) -> PolicyVersionPublic:
    return PolicyVersionPublic.model_validate(version, from_attributes=True)


def progress_fields(figures: governance.Progress) -> dict[str, Any]:
    return {
        "members": figures.members,
        "done": figures.done,
        "teams": [
            TeamProgressPublic(team_id=t.team_id, team_name=t.team_name, members=t.members, done=t.done)
            for t in figures.teams
        ],
    }

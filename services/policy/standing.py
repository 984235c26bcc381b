"""Loads a member's ``governance.Standing``: the one place the share decision (``handlers.py``) and the
live check (``POST /policy-checks``) read the policy, acknowledgements, training and certifications
from, so that both judge a member on the same facts."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from condividi.db import utcnow
from services.policy import governance
from services.policy.models import (
    Certification,
    Member,
    PolicyAcknowledgement,
    PolicyStatus,
    PolicyVersion,
    Team,
    TrainingModule,
)


async def current_policy(session: AsyncSession, org_id: uuid.UUID) -> PolicyVersion | None:
    """The policy in force: the version published last."""
    query = (
        select(PolicyVersion)
        .where(col(PolicyVersion.org_id) == org_id, col(PolicyVersion.status) == PolicyStatus.PUBLISHED)
        .order_by(col(PolicyVersion.published_at).desc(), col(PolicyVersion.version).desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


def requirement_of(policy: PolicyVersion | None) -> governance.PolicyRequirement | None:
    if policy is None or not policy.requires_acknowledgement:
        return None
    return governance.PolicyRequirement(policy.version, policy.content_hash, frozenset(policy.target_team_ids))


async def member_team_ids(session: AsyncSession, org_id: uuid.UUID, subject: str) -> frozenset[uuid.UUID]:
    """The member's teams on the roster (all of them, ``team_ids``); none for someone the roster does not
    know (yet)."""
    query = select(Member.team_id, Member.team_ids).where(col(Member.org_id) == org_id, col(Member.subject) == subject)
    row = (await session.execute(query)).first()
    return _teams_of(row[0], row[1]) if row is not None else frozenset()


def _teams_of(team_id: uuid.UUID | None, team_ids: list[uuid.UUID] | None) -> frozenset[uuid.UUID]:
    # ``team_id`` is the first of ``team_ids``; a member written before the roster kept only ``team_id``.
    return frozenset(team_ids or ()) | ({team_id} if team_id is not None else frozenset())


async def load_standing(
    session: AsyncSession, org_id: uuid.UUID, subject: str, *, also_required: Collection[uuid.UUID] = ()
) -> governance.Standing:
    """``also_required``: the modules the shared item itself requires (a campaign's, when content sends
    them); they are looked up in the org like the network's, so another org's module id asks nothing."""
    policy = await current_policy(session, org_id)
    acknowledged = await session.scalars(
        select(PolicyAcknowledgement.content_hash).where(
            col(PolicyAcknowledgement.org_id) == org_id, col(PolicyAcknowledgement.member_subject) == subject
        )
    )
    # Every module of the org: an org has a handful, and the network's are picked by the pure rule.
    modules = (
        await session.scalars(
            select(TrainingModule).where(col(TrainingModule.org_id) == org_id).order_by(col(TrainingModule.created_at))
        )
    ).all()
    held = await session.scalars(
        select(Certification).where(col(Certification.org_id) == org_id, col(Certification.member_subject) == subject)
    )
    return governance.Standing(
        now=utcnow(),
        policy=requirement_of(policy),
        team_ids=await member_team_ids(session, org_id, subject),
        acknowledged_hashes=frozenset(acknowledged.all()),
        modules=tuple(governance.ModuleRule(m.id, m.title, frozenset(m.required_for_networks)) for m in modules),
        certifications={c.module_id: c.expires_at for c in held.all()},
        also_required=frozenset(also_required),
    )


async def roster(session: AsyncSession, org_id: uuid.UUID) -> tuple[list[governance.RosterEntry], dict[uuid.UUID, str]]:
    """The org's active members with their teams, and the teams' names, for the progress figures. A
    deactivated member can no longer acknowledge or train, so they are not counted as still to do."""
    members = (
        await session.execute(
            select(Member.subject, Member.team_id, Member.team_ids).where(
                col(Member.org_id) == org_id, col(Member.active).is_(True)
            )
        )
    ).all()
    teams = (await session.execute(select(Team.id, Team.name).where(col(Team.org_id) == org_id))).all()
    entries = [governance.RosterEntry(subject, _teams_of(team_id, team_ids)) for subject, team_id, team_ids in members]
    return entries, {team_id: name for team_id, name in teams}

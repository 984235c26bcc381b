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
    """The member's teams on the roster; none for someone the roster does not know (yet)."""
    query = select(Member.team_id).where(col(Member.org_id) == org_id, col(Member.subject) == subject)
    return frozenset(t for t in (await session.scalars(query)).all() if t is not None)


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
    """The org's members with their teams, and the teams' names, for the progress figures."""
    members = (await session.execute(select(Member.subject, Member.team_id).where(col(Member.org_id) == org_id))).all()
    teams = (await session.execute(select(Team.id, Team.name).where(col(Team.org_id) == org_id))).all()
    entries = [
        governance.RosterEntry(subject, frozenset({team_id}) if team_id is not None else frozenset())
        for subject, team_id in members
    ]
    return entries, {team_id: name for team_id, name in teams}

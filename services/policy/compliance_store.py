"""Loads what the compliance rules judge a post with (``compliance.Context``): the org's rules, the
member's teams and time zone, their recent shares. The live check and the share's decision both call
``load_context``, so both judge with the same inputs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.policy import compliance
from services.policy.compliance_models import ComplianceRuleRecord, rule_of
from services.policy.models import Member, ShareDecisionRecord
from services.policy.rules import Outcome

# The longest window a cap counts over (a week).
_LONGEST_CAP = timedelta(days=7)


def tracking_host(url: str | None) -> str | None:
    """The host of the tracking links (sharing's ``PUBLIC_BASE_URL/r/...``), lower-cased."""
    host = urlsplit(url).hostname if url else None
    return host.lower() if host else None


async def load_rules(session: AsyncSession, org_id: uuid.UUID) -> tuple[compliance.Rule, ...]:
    # Read once per transaction: a consumer decides a whole batch of shares in one, all with the rules
    # as they were when the batch began.
    cached: dict[uuid.UUID, tuple[compliance.Rule, ...]] = session.info.setdefault("compliance_rules", {})
    if org_id not in cached:
        cached[org_id] = await _read_rules(session, org_id)
    return cached[org_id]


async def _read_rules(session: AsyncSession, org_id: uuid.UUID) -> tuple[compliance.Rule, ...]:
    records = await session.scalars(
        select(ComplianceRuleRecord)
        .where(col(ComplianceRuleRecord.org_id) == org_id)
        .order_by(col(ComplianceRuleRecord.created_at), col(ComplianceRuleRecord.id))
    )
    return tuple(rule_of(record) for record in records)


async def load_context(
    session: AsyncSession,
    org_id: uuid.UUID,
    member_subject: str,
    *,
    now: datetime,
    campaign_id: str | None = None,
    required_disclosure: str = "",
    personal_touch: float | None = None,
    tracking_host: str | None = None,
    member: Member | Literal["unread"] | None = "unread",
) -> compliance.Context:
    """``member``: the member's roster row when the caller has read it already (None: not on the roster)."""
    rules = await load_rules(session, org_id)
    row = (
        await session.scalar(select(Member).where(col(Member.org_id) == org_id, col(Member.subject) == member_subject))
        if isinstance(member, str)
        else member
    )
    recent: tuple[compliance.RecentShare, ...] = ()
    if any(isinstance(rule.config, compliance.Cap) for rule in rules):
        # Counted from policy's own decisions: what it let through (approved, or held for a person).
        rows = await session.execute(
            select(ShareDecisionRecord.decided_at, ShareDecisionRecord.network).where(
                col(ShareDecisionRecord.org_id) == org_id,
                col(ShareDecisionRecord.member_id) == member_subject,
                col(ShareDecisionRecord.decided_at) > now - _LONGEST_CAP,
                col(ShareDecisionRecord.outcome).in_([Outcome.APPROVED.value, Outcome.NEEDS_REVIEW.value]),
            )
        )
        recent = tuple(compliance.RecentShare(decided_at, network) for decided_at, network in rows)
    return compliance.Context(
        now=now,
        campaign_id=campaign_id or None,
        required_disclosure=required_disclosure,
        personal_touch=personal_touch,
        team_ids=frozenset(row.team_ids) if row is not None else frozenset(),
        member_time_zone=row.time_zone if row is not None else None,
        recent_shares=recent,
        tracking_host=tracking_host,
        rules=rules,
    )

"""Saving a change to a member, in the caller's unit of work: the events that describe it and, when the
member stops being active, the kill-switch's part that belongs to policy (their shares waiting for a
review are rejected with a reason)."""

from __future__ import annotations

from sqlmodel import col, select

from condividi.contracts.policy_pb2 import DeactivationSource, DecisionOutcome, MemberDeactivated
from condividi.contracts.policy_pb2 import ShareDecision as ShareDecisionEvent
from condividi.contracts.policy_pb2 import Violation as ViolationMessage
from condividi.db import UnitOfWork, utcnow
from services.policy import roster
from services.policy.models import Member, ShareDecisionRecord
from services.policy.rules import Outcome

DEACTIVATED = {
    "code": "member_deactivated",
    "message": "You are no longer part of the program (your account was deactivated), so this share was stopped.",
}


async def announce(
    uow: UnitOfWork,
    member: Member,
    *,
    was_active: bool,
    source: DeactivationSource,
) -> None:
    """Emits the member's state, and ``MemberDeactivated`` when this change deactivates them. Call after
    the member's row is written in ``uow``, with whether they were active before."""
    manager_subject = ""
    if member.manager_id is not None:
        manager = await uow.session.get(Member, member.manager_id)
        if manager is not None and manager.org_id == member.org_id:
            manager_subject = manager.subject
    uow.emit(roster.member_event(member, manager_subject), org_id=member.org_id, aggregate_id=member.id)
    if was_active and not member.active:
        uow.emit(
            MemberDeactivated(member_id=str(member.id), subject=member.subject, source=source),
            org_id=member.org_id,
            aggregate_id=member.id,
        )
        await reject_waiting_shares(uow, member)


async def reject_waiting_shares(uow: UnitOfWork, member: Member) -> int:
    """Rejects, with a reason, the member's shares still waiting for a reviewer; returns how many."""
    waiting = await uow.session.scalars(
        select(ShareDecisionRecord)
        .where(
            col(ShareDecisionRecord.org_id) == member.org_id,
            col(ShareDecisionRecord.member_id) == member.subject,
            col(ShareDecisionRecord.outcome) == Outcome.NEEDS_REVIEW.value,
        )
        .with_for_update()
    )
    count = 0
    for decision in waiting:
        decision.outcome = Outcome.REJECTED
        decision.violations = [*decision.violations, DEACTIVATED]
        decision.decided_at = utcnow()
        uow.emit(
            ShareDecisionEvent(
                share_id=str(decision.share_id),
                outcome=DecisionOutcome.DECISION_OUTCOME_REJECTED,
                violations=[ViolationMessage(code=v["code"], message=v["message"]) for v in decision.violations],
            ),
            org_id=member.org_id,
            aggregate_id=decision.share_id,
        )
        count += 1
    return count


def touch(member: Member) -> None:
    member.version += 1
    member.updated_at = utcnow()

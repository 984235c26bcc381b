"""Event handlers: the authoritative policy decision on every submitted share."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from condividi.consumer import Subscription
from condividi.contracts.policy_pb2 import DecisionOutcome
from condividi.contracts.policy_pb2 import ShareDecision as ShareDecisionEvent
from condividi.contracts.policy_pb2 import Violation as ViolationMessage
from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of
from services.policy import audit, near_duplicates, rules
from services.policy.compliance_models import finding_public
from services.policy.compliance_store import load_context, tracking_host
from services.policy.members import DEACTIVATED
from services.policy.models import Member, ShareDecisionRecord
from services.policy.standing import load_standing

log = logging.getLogger(__name__)

_OUTCOMES = {
    rules.Outcome.APPROVED: DecisionOutcome.DECISION_OUTCOME_APPROVED,
    rules.Outcome.REJECTED: DecisionOutcome.DECISION_OUTCOME_REJECTED,
    rules.Outcome.NEEDS_REVIEW: DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW,
}


async def decide_share(uow: UnitOfWork, event: ReceivedEvent[ShareRequested]) -> None:
    """Decides a share with the same rules as the live check, records the decision and announces it
    with ``ShareDecision``, all in the consumer's unit of work."""
    request = event.payload
    try:
        share_id = uuid.UUID(request.share_id)
    except ValueError as exc:
        # Raised rather than skipped: after its retries the event lands in the dead-letter topic, where
        # someone can see that sharing sent a share nobody can ever decide.
        raise ValueError(f"ShareRequested has a share_id that is not a UUID: {request.share_id[:64]!r}") from exc
    # Lower-cased as the live check does, so both apply the same rules to the same network.
    network = request.network.strip().lower()
    # The member's standing is read in this same transaction. ShareRequested names no certification of
    # its own yet; when content's campaigns require one, it arrives as ``also_required``.
    standing = await load_standing(uow.session, event.org_id, request.member_id)
    author = await uow.session.scalar(
        select(Member).where(col(Member.org_id) == event.org_id, col(Member.subject) == request.member_id)
    )
    # The org's compliance rules, with what the share carries (its campaign and disclosure, its
    # personal-touch score) and the member's teams and recent shares, judged as of now.
    context = await load_context(
        uow.session,
        event.org_id,
        request.member_id,
        now=utcnow(),
        campaign_id=request.campaign_id or None,
        required_disclosure=request.required_disclosure,
        personal_touch=request.personal_touch if request.HasField("personal_touch") else None,
        tracking_host=tracking_host(request.url),
        member=author,
    )
    findings = rules.evaluate(network, request.text, request.url or None, standing, context)
    if author is not None and not author.active:
        # Requested before the kill-switch reached sharing, decided after: stopped with a reason.
        findings = [rules.Violation(DEACTIVATED["code"], DEACTIVATED["message"]), *findings]
    now = utcnow()
    sketch = None
    duplicate = None
    if rules.outcome_of(findings) is not rules.Outcome.REJECTED:
        # Skipped for a share refused anyway: whether a colleague wrote the same changes nothing.
        duplicate, sketch = await near_duplicates.check(
            uow.session, event.org_id, network, request.member_id, request.text, now
        )
    outcome = near_duplicates.apply(findings, duplicate)
    violations = [f for f in findings if f.blocking]
    # The inbox already drops a redelivered event; this guards the other way a share can come twice: a
    # second ShareRequested (a new event id) for a share that is decided, which sharing sends when the
    # decision has not reached it in time (services/sharing/redrive.py). The first decision stands and
    # is announced again, unchanged, in case the first announcement was lost.
    recorded = await uow.session.scalar(
        insert(ShareDecisionRecord)
        .values(
            share_id=share_id,
            org_id=event.org_id,
            member_id=request.member_id,
            network=network,
            outcome=outcome.value,
            violations=[{"code": v.code, "message": v.message} for v in violations],
            findings=[finding_public(f).model_dump(mode="json") for f in findings],
            decided_at=now,
        )
        .on_conflict_do_nothing(index_elements=["share_id"])
        .returning(col(ShareDecisionRecord.share_id))
    )
    if recorded is None:
        first = await uow.session.get(ShareDecisionRecord, share_id)
        if first is None or first.org_id != event.org_id:
            return  # another org's share id: nothing of theirs to announce
        log.info("share already decided; announcing the first decision again", extra={"share_id": str(share_id)})
        outcome = rules.Outcome(first.outcome)
        announced = [ViolationMessage(code=v["code"], message=v["message"]) for v in first.violations]
    else:
        announced = [ViolationMessage(code=v.code, message=v.message) for v in violations]
        if outcome is rules.Outcome.APPROVED and sketch is not None:
            await near_duplicates.remember(uow.session, event.org_id, network, request.member_id, share_id, sketch, now)
        await audit.record(
            uow,
            event.org_id,
            audit.SHARE_DECIDED,
            share_id,
            audit.AUTOMATIC,
            decision_payload(request, network, outcome, findings),
        )
    uow.emit(
        ShareDecisionEvent(share_id=str(share_id), outcome=_OUTCOMES[outcome], violations=announced),
        org_id=event.org_id,
        aggregate_id=share_id,
    )


def decision_payload(
    request: ShareRequested, network: str, outcome: rules.Outcome, findings: list[rules.Violation]
) -> dict[str, object]:
    """What the audit log keeps of a decision: the share as submitted and what the rules found."""
    return {
        "share_id": request.share_id,
        "member_id": request.member_id,
        "content_id": request.content_id,
        "campaign_id": request.campaign_id,
        "network": network,
        "text": request.text,
        "url": request.url,
        "outcome": outcome.value,
        "findings": [finding_public(v).model_dump(mode="json") for v in findings],
    }


share_decisions = Subscription.of(
    "policy.share-decisions",
    [topic_of("sharing")],
    {ShareRequested: decide_share},
)

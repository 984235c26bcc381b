"""What sharing does with the events it consumes."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlmodel import col

from condividi.consumer import Subscription
from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.policy_pb2 import DecisionOutcome, MemberDeactivated, ShareDecision
from condividi.contracts.sharing_pb2 import PublishMethod as WirePublishMethod
from condividi.contracts.sharing_pb2 import SharePublished, ShareRejected
from condividi.db import UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of
from condividi.networks import Network
from condividi.roster_copy import roster_subscription
from services.sharing.catalog import is_web_url, remember
from services.sharing.links import tracking_url
from services.sharing.models import CatalogItem, Connection, PublishMethod, Share, ShareStatus
from services.sharing.networks import intent_url
from services.sharing.settings import SharingSettings


async def on_content_published(uow: UnitOfWork, event: ReceivedEvent[ContentPublished]) -> None:
    item = event.payload
    if not is_web_url(item.url):
        return  # content validates URLs; this guards the redirect against a bad event all the same
    await remember(
        uow,
        CatalogItem(
            content_id=uuid.UUID(item.content_id),
            org_id=event.org_id,
            title=item.title,
            url=item.url,
            published_at=event.occurred_at,
            suggested_caption=item.suggested_caption,
            captions=[{"network": c.network, "language": c.language, "text": c.text} for c in item.captions],
        ),
        refresh_captions=True,
    )


def decision_handler(settings: SharingSettings):  # type: ignore[no-untyped-def]
    async def on_share_decision(uow: UnitOfWork, event: ReceivedEvent[ShareDecision]) -> None:
        decision = event.payload
        share = await uow.session.get(Share, uuid.UUID(decision.share_id), with_for_update=True)
        if share is None or share.org_id != event.org_id:
            return  # unknown or another org's
        # A share waiting for a reviewer can still be rejected (policy does so when its author is
        # deactivated); any other decided share stays as it is.
        waiting = share.status == ShareStatus.NEEDS_REVIEW
        rejected = decision.outcome == DecisionOutcome.DECISION_OUTCOME_REJECTED
        if share.status != ShareStatus.PENDING_POLICY and not (waiting and rejected):
            return
        share.updated_at = utcnow()
        if decision.outcome == DecisionOutcome.DECISION_OUTCOME_APPROVED:
            catalog = await uow.session.get(CatalogItem, share.content_id)
            link = tracking_url(settings.PUBLIC_BASE_URL, share.tracking_code)
            share.status = ShareStatus.PUBLISHED
            share.publish_method = PublishMethod.INTENT
            share.intent_url = intent_url(
                Network(share.network), text=share.text, url=link, title=catalog.title if catalog else ""
            )
            uow.emit(
                SharePublished(
                    share_id=str(share.id),
                    member_id=share.member_id,
                    content_id=str(share.content_id),
                    network=share.network,
                    method=WirePublishMethod.PUBLISH_METHOD_INTENT,
                    intent_url=share.intent_url,
                    tracking_code=share.tracking_code,
                    potential_reach=share.potential_reach,
                ),
                org_id=share.org_id,
                aggregate_id=share.id,
            )
            return
        share.violations = [{"code": v.code, "message": v.message} for v in decision.violations]
        if decision.outcome == DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW:
            share.status = ShareStatus.NEEDS_REVIEW
            return
        share.status = ShareStatus.REJECTED
        uow.emit(
            ShareRejected(
                share_id=str(share.id),
                member_id=share.member_id,
                content_id=str(share.content_id),
                reason_codes=[v.code for v in decision.violations],
            ),
            org_id=share.org_id,
            aggregate_id=share.id,
        )

    return on_share_decision


async def on_member_deactivated(uow: UnitOfWork, event: ReceivedEvent[MemberDeactivated]) -> None:
    """The kill-switch's part in sharing: the member's social connections (and their tokens) are deleted.
    New shares are refused by the roster copy the Caller dependency reads; their published links keep
    redirecting and counting, because the posts are still out there. Scheduled shares would be cancelled
    here; sharing schedules nothing yet."""
    await uow.session.execute(
        delete(Connection).where(
            col(Connection.org_id) == event.org_id, col(Connection.member_id) == event.payload.subject
        )
    )


def subscriptions(settings: SharingSettings) -> list[Subscription]:
    return [
        roster_subscription("sharing", {MemberDeactivated: on_member_deactivated}),
        Subscription.of("sharing.content-catalog", [topic_of("content")], {ContentPublished: on_content_published}),
        Subscription.of("sharing.decisions", [topic_of("policy")], {ShareDecision: decision_handler(settings)}),
    ]

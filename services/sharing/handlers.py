"""What sharing does with the events it consumes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col

from condividi.consumer import Subscription
from condividi.contracts.content_pb2 import CampaignChanged, ContentPublished, ContentWithdrawn
from condividi.contracts.policy_pb2 import DecisionOutcome, MemberDeactivated, ShareDecision
from condividi.contracts.sharing_pb2 import PublishMethod as WirePublishMethod
from condividi.contracts.sharing_pb2 import SharePublished, ShareRejected
from condividi.db import UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of
from condividi.networks import Network
from condividi.roster_copy import roster_subscription
from services.sharing.catalog import DEFAULT_UTM_CAMPAIGN, forget, is_web_url, remember
from services.sharing.links import tracking_url
from services.sharing.models import CatalogItem, Connection, PublishMethod, Share, ShareStatus
from services.sharing.networks import intent_url
from services.sharing.settings import SharingSettings


async def on_content_published(uow: UnitOfWork, event: ReceivedEvent[ContentPublished]) -> None:
    item = event.payload
    if not is_web_url(item.url):
        return  # content validates URLs; this guards the redirect against a bad event all the same
    fields: dict[str, Any] = {
        "content_id": uuid.UUID(item.content_id),
        "org_id": event.org_id,
        "title": item.title,
        "url": item.url,
        "published_at": event.occurred_at,
        "revision": item.revision,
        "expires_at": item.expires_at.ToDatetime(tzinfo=UTC) if item.HasField("expires_at") else None,
        "campaign_id": uuid.UUID(item.campaign_id) if item.campaign_id else None,
        "required_disclosure": item.required_disclosure,
        "utm_campaign": item.utm_campaign or DEFAULT_UTM_CAMPAIGN,
        "suggested_caption": item.suggested_caption,
        "captions": [{"network": c.network, "language": c.language, "text": c.text} for c in item.captions],
        **audience_of(item),
    }
    await remember(uow, CatalogItem(**fields), from_event=True)


async def on_content_withdrawn(uow: UnitOfWork, event: ReceivedEvent[ContentWithdrawn]) -> None:
    withdrawn = event.payload
    await forget(uow, event.org_id, uuid.UUID(withdrawn.content_id), withdrawn.reason, event.occurred_at)


def audience_of(item: ContentPublished) -> dict[str, list[Any]]:
    """The catalog's audience columns from ``ContentPublished`` fields 20-27 (already stored keys)."""
    return {
        "target_team_ids": _uuids(item.target_team_ids),
        "target_locations": list(item.target_locations),
        "target_languages": list(item.target_languages),
        "target_roles": list(item.target_roles),
        "campaign_target_team_ids": _uuids(item.campaign_target_team_ids),
        "campaign_target_locations": list(item.campaign_target_locations),
        "campaign_target_languages": list(item.campaign_target_languages),
        "campaign_target_roles": list(item.campaign_target_roles),
    }


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    # Content writes uuids; a team id that is not one could name no member's team, so no one would
    # match it: kept as a team nobody is in rather than dropped (dropping would widen the audience).
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            ids.append(uuid.UUID(int=0))
    return ids


async def on_campaign_changed(uow: UnitOfWork, event: ReceivedEvent[CampaignChanged]) -> None:
    """Keeps the catalog's copy of each item's campaign audience: the items in the campaign get its
    audience, those that left it none. An archived campaign's items are for no one (content's feed drops
    them): a team nobody is in stands for that."""
    change = event.payload
    nobody = [uuid.UUID(int=0)]
    audience = {
        "campaign_target_team_ids": nobody if change.archived else _uuids(change.target_team_ids),
        "campaign_target_locations": list(change.target_locations),
        "campaign_target_languages": list(change.target_languages),
        "campaign_target_roles": list(change.target_roles),
    }
    everyone: dict[str, list[Any]] = {name: [] for name in audience}
    for ids, values in ((change.content_ids, audience), (change.removed_content_ids, everyone)):
        items = _uuids(ids)
        if items:
            await uow.session.execute(
                update(CatalogItem)
                .where(col(CatalogItem.org_id) == event.org_id, col(CatalogItem.content_id).in_(items))
                .values(**values)
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
        Subscription.of(
            "sharing.content-catalog",
            [topic_of("content")],
            {
                ContentPublished: on_content_published,
                ContentWithdrawn: on_content_withdrawn,
                CampaignChanged: on_campaign_changed,
            },
        ),
        Subscription.of("sharing.decisions", [topic_of("policy")], {ShareDecision: decision_handler(settings)}),
    ]

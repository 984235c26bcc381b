"""The events content emits about an item, built by pure functions from the stored rows.

``content_published`` is the one place that says what ``ContentPublished`` carries; the other parts of
content that add to the event (captions: field 30) extend it here, from what they store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from condividi.contracts.content_pb2 import Caption, ContentPublished, ContentWithdrawn
from services.content.models import Campaign, ContentCaption, ContentItem

# What tracking links say in ``utm_campaign`` for an item in no campaign (sharing's former fixed value).
DEFAULT_UTM_CAMPAIGN = "condividi"


class WithdrawalReason:
    EXPIRED = "expired"
    ARCHIVED = "archived"
    UNPUBLISHED = "unpublished"
    DELETED = "deleted"


def _timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def content_published(
    item: ContentItem, campaign: Campaign | None, published_by: str, captions: Sequence[ContentCaption] = ()
) -> ContentPublished:
    """The item's live revision as sharing, metrics and policy need it: its own fields, its campaign's
    (UTM name, disclosure, certification) and both audiences as stored (empty lists: everyone)."""
    return ContentPublished(
        content_id=str(item.id),
        title=item.title,
        url=item.url,
        summary=item.summary,
        suggested_caption=item.suggested_caption,
        published_by=published_by,
        campaign_id=str(item.campaign_id) if item.campaign_id else "",
        utm_campaign=campaign.utm_campaign if campaign and campaign.utm_campaign else DEFAULT_UTM_CAMPAIGN,
        required_disclosure=campaign.required_disclosure if campaign else "",
        expires_at=_timestamp(item.expires_at),
        topics=list(item.topics),
        revision=item.revision,
        image_url=item.image_url or "",
        image_alt=item.image_alt,
        required_certification_id=(
            str(campaign.required_certification_id) if campaign and campaign.required_certification_id else ""
        ),
        **published_audience(item, campaign),
        captions=[Caption(network=c.network, language=c.language, text=c.text) for c in captions],
    )


NOBODY = str(uuid.UUID(int=0))


def published_audience(item: ContentItem, campaign: Campaign | None) -> dict[str, Any]:
    """``ContentPublished`` fields 20-27: the stored keys of the item's audience and its campaign's."""
    fields: dict[str, Any] = {
        "target_team_ids": [str(t) for t in item.target_team_ids],
        "target_locations": list(item.target_locations),
        "target_languages": list(item.target_languages),
        "target_roles": list(item.target_roles),
    }
    if campaign is not None:
        # An archived campaign's items are for no one: a team nobody is in says so to consumers that
        # keep only the audience (sharing's catalog does the same on CampaignChanged).
        teams = [NOBODY] if campaign.archived_at is not None else [str(t) for t in campaign.target_team_ids]
        fields |= {
            "campaign_target_team_ids": teams,
            "campaign_target_locations": list(campaign.target_locations),
            "campaign_target_languages": list(campaign.target_languages),
            "campaign_target_roles": list(campaign.target_roles),
        }
    return fields


def content_withdrawn(item: ContentItem, reason: str) -> ContentWithdrawn:
    return ContentWithdrawn(content_id=str(item.id), reason=reason)

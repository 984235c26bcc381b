"""The catalog of shareable content: this service's copy of published items.

It is filled from ``ContentPublished`` events (each item's latest revision: a newer revision replaces
the row, a repeated one — content announces an item again when its audience or campaign changed —
updates whom it is for and its campaign's fields, an older one changes nothing), ``CampaignChanged``
(the campaign's audience of its items) and ``ContentWithdrawn`` (expired, archived, unpublished or
deleted: no longer shareable). A share of an item that does not reach its author (condividi/audience.py,
against the roster copy) is refused like a missing one. A share can arrive before the event does (an
employee shares the second an item appears in their feed), so a miss asks the content service once,
with the caller's own token: content then applies its tenancy, visibility and audience rules (404 for
what the caller may not see), and the answer is kept with the audiences it states.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from condividi.audience import Audience
from condividi.captions import Caption
from condividi.db import Database, UnitOfWork, utcnow
from condividi.errors import ApiError, not_found
from condividi.identity import Caller
from condividi.roster_copy import profile_of
from services.sharing.models import CatalogItem
from services.sharing.settings import SharingSettings

# What tracking links say in ``utm_campaign`` for an item content named no campaign for.
DEFAULT_UTM_CAMPAIGN = "condividi"
EXPIRED = "expired"


def is_web_url(url: str) -> bool:
    # Tracking links redirect only to http(s) pages: never javascript:, data: or a relative path.
    return url.startswith(("https://", "http://"))


_KEPT = ("title", "url", "revision", "expires_at", "campaign_id", "required_disclosure", "utm_campaign")
# What the personal-touch score compares shares with.
_CAPTIONS = ("suggested_caption", "captions")


async def remember(session_owner: UnitOfWork, item: CatalogItem, *, from_event: bool = False) -> None:
    """Keeps ``item``. From an event (``from_event``), a copy already kept is replaced unless it holds a
    newer revision: a newer revision clears a withdrawal (an unpublished item published anew); the same
    revision announced again (its audience, campaign or captions changed) leaves a withdrawal as it is.
    The catalog-miss path, whose answer carries no captions, never replaces what an event brought."""
    values = {name: getattr(item, name) for name in ("content_id", "org_id", "published_at", *_KEPT, *_CAPTIONS)}
    statement = insert(CatalogItem).values(**values, **audience_columns(item))
    if not from_event:
        await session_owner.session.execute(statement.on_conflict_do_nothing(index_elements=["content_id"]))
        return
    newer = col(CatalogItem.revision) < statement.excluded.revision
    kept = {name: statement.excluded[name] for name in (*_KEPT, *_CAPTIONS, *audience_columns(item))}
    cleared = {
        name: sa.case((newer, None), else_=col(getattr(CatalogItem, name)))
        for name in ("withdrawn_at", "withdrawn_reason")
    }
    await session_owner.session.execute(
        statement.on_conflict_do_update(
            index_elements=["content_id"],
            set_=kept | cleared,
            # Never across orgs, and never backwards.
            where=(col(CatalogItem.org_id) == statement.excluded.org_id)
            & (col(CatalogItem.revision) <= statement.excluded.revision),
        )
    )


async def forget(uow: UnitOfWork, org_id: uuid.UUID, content_id: uuid.UUID, reason: str, at: datetime) -> None:
    """The item may no longer be shared; shares already made keep their links."""
    await uow.session.execute(
        update(CatalogItem)
        .where(col(CatalogItem.content_id) == content_id, col(CatalogItem.org_id) == org_id)
        .values(withdrawn_at=at, withdrawn_reason=reason)
    )


def refusal(item: CatalogItem, now: datetime) -> ApiError | None:
    """Why ``item`` cannot be shared now, or None."""
    if item.withdrawn_reason == EXPIRED or (item.expires_at is not None and item.expires_at <= now):
        return ApiError(409, "content_expired", "this content item has expired and can no longer be shared")
    if item.withdrawn_at is not None:
        return ApiError(
            409,
            "content_withdrawn",
            f"this content item was withdrawn ({item.withdrawn_reason or 'by a curator'}) and can no longer be shared",
        )
    return None


def audience_columns(item: CatalogItem) -> dict[str, list[object]]:
    return {
        name: list(getattr(item, name))
        for name in CatalogItem.model_fields
        if name.startswith(("target_", "campaign_target_"))
    }


def _audience_fields(body: dict[str, Any], key: str, prefix: str) -> dict[str, Any]:
    """The catalog columns for an audience as content's item answer states it (absent: everyone)."""
    raw = body.get(key)
    if not isinstance(raw, dict):
        return {}
    stored = Audience.model_validate(raw).keys()
    return {
        f"{prefix}target_team_ids": sorted(stored.team_ids),
        f"{prefix}target_locations": sorted(stored.locations),
        f"{prefix}target_languages": sorted(stored.languages),
        f"{prefix}target_roles": sorted(stored.roles),
    }


async def _refuse_unless_reached(db: Database, caller: Caller, item: CatalogItem) -> None:
    if not item.reaches(await profile_of(db, caller.org_id, caller.subject, caller.roles)):
        raise not_found("content item")


def captions_of(item: CatalogItem) -> list[Caption]:
    return [Caption(c.get("network", ""), c.get("language", ""), c.get("text", "")) for c in item.captions]


async def find_shareable(
    db: Database, http: httpx.AsyncClient, settings: SharingSettings, caller: Caller, content_id: uuid.UUID
) -> CatalogItem:
    async with db.read() as session:
        item = await session.get(CatalogItem, content_id)
    if item is not None:
        if item.org_id != caller.org_id:
            raise not_found("content item")
        await _refuse_unless_reached(db, caller, item)
    else:
        item = await _ask_content(db, http, settings, caller, content_id)
    refused = refusal(item, utcnow())
    if refused is not None:
        raise refused
    return item


async def _ask_content(
    db: Database, http: httpx.AsyncClient, settings: SharingSettings, caller: Caller, content_id: uuid.UUID
) -> CatalogItem:
    try:
        response = await http.get(
            f"{settings.CONTENT_SERVICE_URL}/api/v1/content-items/{content_id}",
            headers={"Authorization": f"Bearer {caller.token}"},
        )
    except httpx.HTTPError as exc:
        raise ApiError(503, "content_unavailable", "the content service cannot be reached; try again") from exc
    if response.status_code == 404:
        raise not_found("content item")
    if response.status_code != 200:
        raise ApiError(503, "content_unavailable", "the content service did not answer; try again")
    body = response.json()
    if not is_web_url(body.get("url", "")):
        raise not_found("content item")
    status = body.get("status")
    if status not in ("published", EXPIRED):
        # Content shows employees only what they may share or have shared; a curator may see a draft,
        # which no one shares.
        raise not_found("content item")
    expires_at = body.get("expires_at")
    campaign_id = body.get("campaign_id")
    # Content answered for this caller, so the item reaches them; its audiences are kept for the others.
    item = CatalogItem(
        content_id=content_id,
        org_id=caller.org_id,
        title=body["title"],
        url=body["url"],
        published_at=datetime.fromisoformat(body["published_at"]),
        revision=int(body.get("revision") or 0),
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
        campaign_id=uuid.UUID(campaign_id) if campaign_id else None,
        required_disclosure=body.get("required_disclosure") or "",
        utm_campaign=body.get("utm_campaign") or DEFAULT_UTM_CAMPAIGN,
        **_audience_fields(body, "audience", ""),
        **_audience_fields(body, "campaign_audience", "campaign_"),
        # Its captions per network and language arrive with ContentPublished; until then the default.
        suggested_caption=body.get("suggested_caption") or "",
    )
    if status == EXPIRED:
        item.withdrawn_reason = EXPIRED
        return item  # refused by the caller; the ContentWithdrawn event is on its way to the catalog
    async with db.unit_of_work() as uow:
        await remember(uow, item)
    return item

"""The catalog of shareable content: this service's copy of published items.

It is filled from ``ContentPublished`` events, with whom each item is for: a share of an item that
does not reach its author (condividi/audience.py, against the roster copy) is refused like a missing
one. A share can arrive before that event does (an employee shares the second an item appears in their
feed), so a miss asks the content service once, with the caller's own token: content then applies its
tenancy, visibility and audience rules, and the answer is kept with the audiences it states.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert

from condividi.audience import Audience
from condividi.db import Database, UnitOfWork
from condividi.errors import ApiError, not_found
from condividi.identity import Caller
from condividi.roster_copy import profile_of
from services.sharing.models import CatalogItem
from services.sharing.settings import SharingSettings


def is_web_url(url: str) -> bool:
    # Tracking links redirect only to http(s) pages: never javascript:, data: or a relative path.
    return url.startswith(("https://", "http://"))


async def remember(session_owner: UnitOfWork, item: CatalogItem) -> None:
    statement = insert(CatalogItem).values(
        content_id=item.content_id,
        org_id=item.org_id,
        title=item.title,
        url=item.url,
        published_at=item.published_at,
        **audience_columns(item),
    )
    # A newer announcement of the item (its audience or its campaign's changed) replaces whom it is for.
    audience = {name: statement.excluded[name] for name in audience_columns(item)}
    await session_owner.session.execute(statement.on_conflict_do_update(index_elements=["content_id"], set_=audience))


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


async def find_shareable(
    db: Database, http: httpx.AsyncClient, settings: SharingSettings, caller: Caller, content_id: uuid.UUID
) -> CatalogItem:
    async with db.read() as session:
        item = await session.get(CatalogItem, content_id)
    if item is not None:
        if item.org_id != caller.org_id:
            raise not_found("content item")
        await _refuse_unless_reached(db, caller, item)
        return item
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
    if body.get("status") != "published" or not is_web_url(body.get("url", "")):
        raise not_found("content item")
    # Content answered for this caller, so the item reaches them; its audiences are kept for the others.
    item = CatalogItem(
        content_id=content_id,
        org_id=caller.org_id,
        title=body["title"],
        url=body["url"],
        published_at=datetime.fromisoformat(body["published_at"]),
        **_audience_fields(body, "audience", ""),
        **_audience_fields(body, "campaign_audience", "campaign_"),
    )
    async with db.unit_of_work() as uow:
        await remember(uow, item)
    return item

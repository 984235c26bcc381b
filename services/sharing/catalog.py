"""The catalog of shareable content: this service's copy of published items.

It is filled from ``ContentPublished`` events. A share can arrive before that event does (an employee
shares the second an item appears in their feed), so a miss asks the content service once, with the
caller's own token: content then applies its tenancy and visibility rules, and the answer is kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy.dialects.postgresql import insert

from condividi.captions import Caption
from condividi.db import Database, UnitOfWork
from condividi.errors import ApiError, not_found
from condividi.identity import Caller
from services.sharing.models import CatalogItem
from services.sharing.settings import SharingSettings


def is_web_url(url: str) -> bool:
    # Tracking links redirect only to http(s) pages: never javascript:, data: or a relative path.
    return url.startswith(("https://", "http://"))


async def remember(session_owner: UnitOfWork, item: CatalogItem, *, refresh_captions: bool = False) -> None:
    """Keeps ``item``; with ``refresh_captions`` (an event announcing it), a copy already kept takes its
    captions, which a curator may have changed since (content announces the item again)."""
    statement = insert(CatalogItem).values(
        content_id=item.content_id,
        org_id=item.org_id,
        title=item.title,
        url=item.url,
        published_at=item.published_at,
        suggested_caption=item.suggested_caption,
        captions=item.captions,
    )
    if refresh_captions:
        excluded = statement.excluded
        upsert = statement.on_conflict_do_update(
            index_elements=["content_id"],
            set_={"suggested_caption": excluded.suggested_caption, "captions": excluded.captions},
        )
        await session_owner.session.execute(upsert)
        return
    await session_owner.session.execute(statement.on_conflict_do_nothing(index_elements=["content_id"]))


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
    item = CatalogItem(
        content_id=content_id,
        org_id=caller.org_id,
        title=body["title"],
        url=body["url"],
        published_at=datetime.fromisoformat(body["published_at"]),
        # Its captions per network and language arrive with ContentPublished; until then the default.
        suggested_caption=body.get("suggested_caption") or "",
    )
    async with db.unit_of_work() as uow:
        await remember(uow, item)
    return item

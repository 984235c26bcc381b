"""Captions per network and language: curators set an item's whole set; members read the one chosen
for them (condividi/captions.py decides which), a page of items in one query.

The feed offers each member a caption with ``captions_of`` (one query for a page of items), the member's
language from ``member_language`` and ``condividi.captions.choose_caption``, as ``choose_captions`` does.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import delete
from sqlmodel import col, select

from condividi.captions import Caption, choose_caption
from condividi.db import Database, utcnow
from condividi.errors import not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.networks import Network, SupportedNetwork
from condividi.openapi import DocumentedRoute
from condividi.roster_copy import RosterEntry
from condividi.service import DatabaseDep
from services.content import library
from services.content.models import (
    CaptionChoice,
    CaptionPublic,
    CaptionsReplace,
    ContentCaption,
    ContentItem,
    ContentStatus,
)

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
MAX_CHOICES = 100

_CAPTIONS_SQL = (
    "SELECT content_id, network, language, text FROM content_captions WHERE org_id = $1 AND content_id = ANY($2)"
)


async def captions_of(
    db: Database, org_id: uuid.UUID, content_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Caption]]:
    """The captions of a page of items, in one query (the unique (content_id, network, language) index)."""
    found: dict[uuid.UUID, list[Caption]] = defaultdict(list)
    if not content_ids:
        return found
    for row in await db.fetch(_CAPTIONS_SQL, org_id, list(content_ids)):
        found[row["content_id"]].append(Caption(row["network"], row["language"], row["text"]))
    return found


async def member_language(db: Database, caller: Caller) -> str | None:
    """The caller's language as the roster copy knows it; None while the copy has no language (the
    roster copy gains its ``language`` column with the audience work) or the member is unknown."""
    column: Any = getattr(RosterEntry, "language", None)
    if column is None:
        return None
    rows = await db.fetch(
        "SELECT language FROM roster_copy WHERE org_id = $1 AND subject = $2", caller.org_id, caller.subject
    )
    return rows[0]["language"] if rows and rows[0]["language"] else None


def _public(caption: ContentCaption) -> CaptionPublic:
    return CaptionPublic(
        content_id=caption.content_id,
        network=Network(caption.network) if caption.network else None,
        language=caption.language,
        text=caption.text,
        updated_by=caption.updated_by,
        updated_at=caption.updated_at,
    )


def _ordered(captions: Sequence[ContentCaption]) -> list[ContentCaption]:
    return sorted(captions, key=lambda c: (c.network, c.language.casefold()))


@router.get("/content-items/{item_id}/captions", tags=["captions"], operation_id="captions-list")
async def list_captions(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> list[CaptionPublic]:
    """The item's captions per network and language (curators and admins), by network then language."""
    async with db.read() as session:
        item = await session.get(ContentItem, item_id)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        rows = (await session.scalars(select(ContentCaption).where(ContentCaption.content_id == item_id))).all()
    return [_public(c) for c in _ordered(rows)]


@router.put("/content-items/{item_id}/captions", tags=["captions"], operation_id="captions-replace")
async def replace_captions(
    item_id: uuid.UUID, body: CaptionsReplace, caller: Curator, db: DatabaseDep
) -> list[CaptionPublic]:
    """Sets the item's whole set of captions (curators and admins): those left out are deleted, an empty
    list deletes them all. A published item is announced again (``ContentPublished``, same revision),
    so that sharing scores shares against the captions members are now offered."""
    now = utcnow()
    async with db.unit_of_work() as uow:
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        await uow.session.execute(delete(ContentCaption).where(col(ContentCaption.content_id) == item_id))
        rows = [
            ContentCaption(
                org_id=item.org_id,
                content_id=item.id,
                network=c.network.value if c.network else "",
                language=c.language or "",
                text=c.text,
                updated_by=caller.subject,
                updated_at=now,
            )
            for c in body.captions
        ]
        uow.session.add_all(rows)
        if item.status == ContentStatus.PUBLISHED:
            await uow.session.flush()
            await library.announce(uow, item, await library.campaign_of(uow.session, item), caller.subject)
    return [_public(c) for c in _ordered(rows)]


@router.get("/captions", tags=["captions"], operation_id="captions-choose")
async def choose_captions(
    caller: CallerDep,
    db: DatabaseDep,
    network: Annotated[SupportedNetwork, Query(description="The network the member is sharing to.")],
    content_id: Annotated[
        list[uuid.UUID], Query(min_length=1, max_length=MAX_CHOICES, description="Items of the caller's org.")
    ],
) -> list[CaptionChoice]:
    """The caption each item offers the caller on ``network``, in the caller's language (the roster's),
    falling back to the language's prefix, then to a caption for every language, then to the item's
    default. Items the caller cannot see, and items with no caption at all, are left out."""
    curator = caller.has_any(Role.CURATOR, Role.ADMIN)
    ids = list(dict.fromkeys(content_id))
    items = await db.fetch(
        "SELECT id, status, suggested_caption FROM content_items WHERE org_id = $1 AND id = ANY($2)",
        caller.org_id,
        ids,
    )
    visible = {r["id"]: r["suggested_caption"] for r in items if curator or r["status"] == ContentStatus.PUBLISHED}
    captions = await captions_of(db, caller.org_id, list(visible))
    language = await member_language(db, caller)
    choices = []
    for item_id in ids:
        if item_id not in visible:
            continue
        chosen = choose_caption(captions.get(item_id, []), visible[item_id], network.value, language)
        if chosen is None:
            continue
        choices.append(
            CaptionChoice(
                content_id=item_id,
                network=network,
                text=chosen.text,
                caption_network=Network(chosen.network) if chosen.network else None,
                caption_language=chosen.language,
            )
        )
    return choices

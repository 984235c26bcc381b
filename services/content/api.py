"""REST API of the content service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlmodel import select

from condividi.contracts.content_pb2 import Caption, ContentPublished
from condividi.db import Database, utcnow
from condividi.errors import conflict, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page_sql
from condividi.service import DatabaseDep
from services.content.models import ContentCaption, ContentItem, ContentItemCreate, ContentItemPublic, ContentStatus

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
_FEED_SQL = f"SELECT {', '.join(ContentItemPublic.model_fields)} FROM content_items WHERE org_id = $1 AND status = $2"


def _public(item: ContentItem) -> ContentItemPublic:
    return ContentItemPublic.model_validate(item, from_attributes=True)


async def _load(db: Database, caller: Caller, item_id: uuid.UUID) -> ContentItem:
    async with db.read() as session:
        item = await session.get(ContentItem, item_id)
    # Another org's id answers exactly like a missing one.
    if item is None or item.org_id != caller.org_id:
        raise not_found("content item")
    return item


@router.post(
    "/content-items", status_code=status.HTTP_201_CREATED, tags=["content-items"], operation_id="content-items-create"
)
async def create_content_item(body: ContentItemCreate, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Creates a draft; employees see it once it is published."""
    now = utcnow()
    item = ContentItem(
        org_id=caller.org_id,
        title=body.title,
        url=str(body.url),
        summary=body.summary,
        suggested_caption=body.suggested_caption,
        status=ContentStatus.DRAFT,
        created_by=caller.subject,
        created_at=now,
        updated_at=now,
    )
    async with db.unit_of_work() as uow:
        uow.session.add(item)
    return _public(item)


@router.get("/content-items/{item_id}", tags=["content-items"], operation_id="content-items-get")
async def get_content_item(item_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> ContentItemPublic:
    item = await _load(db, caller, item_id)
    if item.status != ContentStatus.PUBLISHED and not caller.has_any(Role.CURATOR, Role.ADMIN):
        raise not_found("content item")
    return _public(item)


@router.post(
    "/content-items/{item_id}/publish",
    tags=["content-items"],
    operation_id="content-items-publish",
    responses=error_responses(409, s409="The item is already published."),
)
async def publish_content_item(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> ContentItemPublic:
    """Publishes a draft to the feed and announces it with ``ContentPublished``."""
    async with db.unit_of_work() as uow:
        item = await uow.session.get(ContentItem, item_id, with_for_update=True)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        if item.status == ContentStatus.PUBLISHED:
            raise conflict("the content item is already published")
        item.status = ContentStatus.PUBLISHED
        item.published_at = item.updated_at = utcnow()
        item.revision = 1
        captions = (await uow.session.scalars(select(ContentCaption).where(ContentCaption.content_id == item.id))).all()
        uow.emit(published_event(item, captions, caller.subject), org_id=item.org_id, aggregate_id=item.id)
    return _public(item)


def published_event(item: ContentItem, captions: Sequence[ContentCaption], published_by: str) -> ContentPublished:
    """The item as sharing and metrics learn it, with its captions (field 30); announced again, by the
    curator who changed them, when a published item's captions change."""
    return ContentPublished(
        content_id=str(item.id),
        title=item.title,
        url=item.url,
        summary=item.summary,
        suggested_caption=item.suggested_caption,
        published_by=published_by,
        captions=[Caption(network=c.network, language=c.language, text=c.text) for c in captions],
    )


@router.get("/feed", tags=["feed"], operation_id="feed-list", responses=error_responses(400))
async def get_feed(
    caller: CallerDep, db: DatabaseDep, limit: PageSize = 20, cursor: str | None = None, before: Before = None
) -> Page[ContentItemPublic]:
    """The caller's feed: the org's published items, newest first."""
    # Plain SQL on asyncpg, not the ORM: every employee reads this page (bench/README.md, the read path).
    rows, next_cursor = await read_page_sql(
        db.fetch,
        _FEED_SQL,
        [caller.org_id, ContentStatus.PUBLISHED.value],
        sort="published_at",
        row_id="id",
        limit=limit,
        cursor=cursor,
        before=before,
    )
    return Page[ContentItemPublic](
        items=[ContentItemPublic.model_validate(dict(r)) for r in rows], next_cursor=next_cursor
    )

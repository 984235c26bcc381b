"""REST routes of link previews: an item's preview of its current link, and the curators' refresh."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlmodel import col, select

from condividi.db import Database
from condividi.errors import not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute
from condividi.service import DatabaseDep
from services.content.models import ContentItem, ContentStatus
from services.content.previews.models import (
    LinkPreview,
    LinkPreviewBatch,
    LinkPreviewBatchRequest,
    LinkPreviewPublic,
)
from services.content.previews.worker import request_link_preview

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]


def public(row: LinkPreview) -> LinkPreviewPublic:
    return LinkPreviewPublic.model_validate(row, from_attributes=True)


async def _visible_item(db: Database, caller: Caller, item_id: uuid.UUID) -> ContentItem:
    async with db.read() as session:
        item = await session.get(ContentItem, item_id)
    # Another org's item, and a draft for an employee, answer like a missing one.
    if item is None or item.org_id != caller.org_id:
        raise not_found("content item")
    if item.status != ContentStatus.PUBLISHED and not caller.has_any(Role.CURATOR, Role.ADMIN):
        raise not_found("content item")
    return item


@router.get("/content-items/{item_id}/link-preview", tags=["link-previews"], operation_id="link-previews-get")
async def get_link_preview(item_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> LinkPreviewPublic:
    """The preview of the item's current link: its card's title, description and image, and the doctor's
    findings (what will go wrong when the link is posted). ``status`` is ``pending`` until it is fetched."""
    item = await _visible_item(db, caller, item_id)
    async with db.read() as session:
        row = (
            await session.execute(
                select(LinkPreview).where(col(LinkPreview.item_id) == item.id, col(LinkPreview.url) == item.url)
            )
        ).scalar_one_or_none()
    if row is None:
        raise not_found("link preview")
    return public(row)


@router.post("/link-previews/batch", tags=["link-previews"], operation_id="link-previews-get-batch")
async def get_link_previews_batch(
    body: LinkPreviewBatchRequest, caller: CallerDep, db: DatabaseDep
) -> LinkPreviewBatch:
    """The previews of up to 100 items' current links at once (a feed's), in the order asked; items the
    caller cannot see (another org's, a draft for an employee) are left out, like unknown ones."""
    wanted = list(dict.fromkeys(body.item_ids))
    if not wanted:
        return LinkPreviewBatch(items=[])
    query = (
        select(LinkPreview)
        .join(
            ContentItem,
            (col(ContentItem.id) == col(LinkPreview.item_id)) & (col(ContentItem.url) == col(LinkPreview.url)),
        )
        .where(col(ContentItem.id).in_(wanted), col(ContentItem.org_id) == caller.org_id)
    )
    if not caller.has_any(Role.CURATOR, Role.ADMIN):
        query = query.where(col(ContentItem.status) == ContentStatus.PUBLISHED)
    async with db.read() as session:
        rows = (await session.execute(query)).scalars().all()
    found = {row.item_id: public(row) for row in rows}
    return LinkPreviewBatch(items=[found[i] for i in wanted if i in found])


@router.post(
    "/content-items/{item_id}/link-preview/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["link-previews"],
    operation_id="link-previews-refresh",
)
async def refresh_link_preview(item_id: uuid.UUID, caller: Curator, db: DatabaseDep) -> LinkPreviewPublic:
    """Fetches the item's link again (after the page was fixed): the preview goes back to ``pending``
    and the worker fetches it within seconds."""
    async with db.unit_of_work() as uow:
        item = await uow.session.get(ContentItem, item_id)
        if item is None or item.org_id != caller.org_id:
            raise not_found("content item")
        await request_link_preview(uow.session, org_id=item.org_id, item_id=item.id, url=item.url)
        row = (
            await uow.session.execute(
                select(LinkPreview)
                .where(col(LinkPreview.item_id) == item.id, col(LinkPreview.url) == item.url)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return public(row)

"""REST API of the metrics service: per-item stats, a batch of them for the gateway's DataLoader, and
the org's summary. Every figure is scoped to the caller's org."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from starlette.convertors import Convertor, register_url_convertor

from condividi.errors import not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute
from condividi.service import DatabaseDep
from services.metrics.models import (
    ContentStats,
    ContentStatsBatch,
    ContentStatsBatchRequest,
    OrgSummary,
)
from services.metrics.models import content_rollups as rollups

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

SummaryReader = Annotated[Caller, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.CURATOR))]

_STATS_COLUMNS = (
    rollups.c.content_id,
    rollups.c.shares,
    rollups.c.clicks,
    rollups.c.unique_clicks,
    rollups.c.potential_reach,
)

_BATCH_SQL = (
    f"SELECT {', '.join(c.name for c in _STATS_COLUMNS)} FROM content_rollups"
    " WHERE org_id = $1 AND content_id = ANY($2::uuid[])"
)


class _NotBatch(Convertor[str]):
    """A path segment other than ``batch``: ``/content-stats/batch`` names the batch resource alone,
    so that a GET on it answers 405 (Allow: POST) rather than a 422 about a content id. Any other
    segment is a content id, a malformed one answering 422 as everywhere."""

    regex = "(?!batch$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("not_batch", _NotBatch())


@router.get("/content-stats/{content_id:not_batch}", tags=["content-stats"], operation_id="content-stats-get")
async def get_content_stats(content_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> ContentStats:
    """Shares, clicks, unique clicks and potential reach of one content item."""
    query = select(*_STATS_COLUMNS).where(rollups.c.org_id == caller.org_id, rollups.c.content_id == content_id)
    async with db.read() as session:
        row = (await session.execute(query)).one_or_none()
    # Scoped by org in the query, so another org's item answers exactly like an unknown one.
    if row is None:
        raise not_found("content item")
    return ContentStats.model_validate(row, from_attributes=True)


@router.post("/content-stats/batch", tags=["content-stats"], operation_id="content-stats-get-batch")
async def get_content_stats_batch(
    body: ContentStatsBatchRequest, caller: CallerDep, db: DatabaseDep
) -> ContentStatsBatch:
    """Stats of up to 100 items at once, in the order asked; ids unknown to the caller's org are left out."""
    wanted = list(dict.fromkeys(body.content_ids))
    if not wanted:
        return ContentStatsBatch(items=[])
    # Plain SQL on the fast pool: every GraphQL feed with stats asks this (bench/README.md, the gateway).
    rows = await db.fetch(_BATCH_SQL, caller.org_id, wanted)
    found = {row["content_id"]: ContentStats.model_validate(dict(row)) for row in rows}
    return ContentStatsBatch(items=[found[i] for i in wanted if i in found])


@router.get("/summary", tags=["summary"], operation_id="summary-get")
async def get_summary(caller: SummaryReader, db: DatabaseDep) -> OrgSummary:
    """Totals over all the org's content items."""
    query = select(
        func.count().label("content_items"),
        func.coalesce(func.sum(rollups.c.shares), 0).label("shares"),
        func.coalesce(func.sum(rollups.c.clicks), 0).label("clicks"),
        func.coalesce(func.sum(rollups.c.unique_clicks), 0).label("unique_clicks"),
        func.coalesce(func.sum(rollups.c.potential_reach), 0).label("potential_reach"),
    ).where(rollups.c.org_id == caller.org_id)
    async with db.read() as session:
        row = (await session.execute(query)).one()
    return OrgSummary.model_validate(row, from_attributes=True)

"""Keyset pagination: pages stay fast and stable however deep a client reads, unlike OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from condividi.errors import ApiError

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_SIZE = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    # Pass back as ``cursor`` to get the next page; null on the last page.
    next_cursor: str | None = None

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        # ``ContentItemPage`` in OpenAPI and in generated clients (condividi.openapi names the schema
        # after this), not ``Page_ContentItemPublic_``.
        [item] = params
        return f"{getattr(item, '__name__', 'Item').removesuffix('Public')}Page"


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API handed out") from exc


async def read_page(
    session: AsyncSession,
    query: SelectOfScalar[R],
    *,
    sort: Any,
    row_id: Any,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
) -> tuple[list[R], str | None]:
    """Rows of ``query`` ordered by ``(sort, row_id)`` (newest first unless ``oldest_first``), after
    ``cursor``, and the cursor of the next page."""
    key, tie = col(sort), col(row_id)
    if cursor:
        at, last_id = decode_cursor(cursor)
        if oldest_first:
            query = query.where(or_(key > at, and_(key == at, tie > last_id)))
        else:
            query = query.where(or_(key < at, and_(key == at, tie < last_id)))
    order = (key, tie) if oldest_first else (key.desc(), tie.desc())
    query = query.order_by(*order).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, sort.key), getattr(last, row_id.key))

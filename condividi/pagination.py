"""Keyset pagination: pages stay fast and stable however deep a client reads, unlike OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
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


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A cursor this API hands out is about 90 characters; anything much longer is not one of them.
MAX_CURSOR_LENGTH = 256


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor from ``encode_cursor`` names. A client can send anything, so whatever could
    not have come from ``encode_cursor``, or could not be compared with a stored row, answers 400
    ``invalid_cursor`` here rather than failing later in the driver or the database."""
    invalid = ApiError(400, "invalid_cursor", "the cursor is not one this API handed out")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise invalid
        at = datetime.fromisoformat(decoded[0])
        if at.tzinfo is None:
            raise invalid  # every sort column is a timestamptz; a naive time has no place on it
        # In UTC, as the database compares it: a date near the ends of the calendar in a far offset
        # (0001-01-01T00:00+14:00) exists in Python but not once converted, and the driver would fail.
        at = at.astimezone(UTC)
        return at, uuid.UUID(decoded[1])
    except (ValueError, TypeError, OverflowError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise invalid from exc


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

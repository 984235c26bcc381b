"""Keyset pagination: pages stay fast and stable however deep a client reads, unlike OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from condividi.errors import ApiError

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_SIZE = 100

# The list routes' ``before`` parameter (see ``read_page``).
Before = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Read backward: the items just before this cursor, in the list's order; an empty value reads "
        "the last page. `next_cursor` then continues backward (pass it as `before`). Not with `cursor`.",
    ),
]


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
    before: str | None = None,
) -> tuple[list[R], str | None]:
    """Rows of ``query`` ordered by ``(sort, row_id)`` (newest first unless ``oldest_first``), after
    ``cursor``, and the cursor of the next page.

    With ``before`` (and no ``cursor``) the page is read backward: the ``limit`` rows just before that
    position, still in the list's order, and the cursor to pass as ``before`` for the rows before them
    (null when there are none). "Next" always continues in the direction the client is reading."""
    backward, ascending, position = _reading(cursor, before, oldest_first)
    key, tie = col(sort), col(row_id)
    if position:
        at, last_id = decode_cursor(position)
        if ascending:
            query = query.where(or_(key > at, and_(key == at, tie > last_id)))
        else:
            query = query.where(or_(key < at, and_(key == at, tie < last_id)))
    order = (key, tie) if ascending else (key.desc(), tie.desc())
    query = query.order_by(*order).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not more:
        next_cursor = None
    else:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, sort.key), getattr(last, row_id.key))
    if backward:
        rows.reverse()
    return rows, next_cursor


def _reading(cursor: str | None, before: str | None, oldest_first: bool) -> tuple[bool, bool, str | None]:
    """(backward, ascending, the position to read from) for a page request."""
    if cursor and before is not None:
        raise ApiError(400, "invalid_cursor", "pass either cursor (read forward) or before (read backward), not both")
    backward = before is not None
    # Reading backward from a position is reading forward in the opposite order.
    return backward, oldest_first != backward, before if backward else cursor


Fetch = Callable[..., Awaitable[list[asyncpg.Record]]]


async def read_page_sql(
    fetch: Fetch,
    select_where: str,
    args: Sequence[object],
    *,
    sort: str,
    row_id: str,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
    before: str | None = None,
) -> tuple[list[asyncpg.Record], str | None]:
    """``read_page`` in plain SQL, for the hottest reads (``Database.fetch``): ``select_where`` is a
    ``SELECT ... WHERE ...`` with ``$1``.. for ``args``; ``sort`` and ``row_id`` are column names
    written in the code (never from a request). Same cursors, same order, same answers."""
    backward, ascending, position = _reading(cursor, before, oldest_first)
    values = list(args)
    sql = select_where
    if position:
        at, last_id = decode_cursor(position)
        values += [at, last_id]
        at_n, id_n = len(values) - 1, len(values)
        beyond = ">" if ascending else "<"
        sql += f" AND ({sort} {beyond} ${at_n} OR ({sort} = ${at_n} AND {row_id} {beyond} ${id_n}))"
    direction = "ASC" if ascending else "DESC"
    values.append(limit + 1)
    rows = await fetch(f"{sql} ORDER BY {sort} {direction}, {row_id} {direction} LIMIT ${len(values)}", *values)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1][sort], rows[-1][row_id]) if more else None
    if backward:
        rows.reverse()
    return rows, next_cursor

"""Relay's conventions, as the gateway implements them: global object ids, and cursor connections.

Global ids are opaque to clients: base64url of ``<TypeName>:<uuid>``. They carry no org: a service
scopes every lookup by the caller's org, so another org's id is simply one the caller cannot fetch.

Cursors are opaque too, and name the list they belong to: base64url of a JSON array
``["c1", <connection>, <position>...]``. The position is what the list is ordered by (the sort time and
the row's id for the services' keyset lists, in the services' own cursor format from
``condividi/pagination.py``), so the gateway hands out a cursor for every edge, not only for the last
one. A cursor that does not decode, or that belongs to another list, is the client's mistake
(``invalid_cursor``, 400), found before any service is called.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry

from condividi.pagination import encode_cursor
from gateway.clients import PageQuery
from gateway.errors import GatewayError, invalid_cursor

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_NODES = 100
_CURSOR_VERSION = "c1"

T = TypeVar("T")
Item = TypeVar("Item")


# --- global ids ----------------------------------------------------------------------------------


def _b64encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _b64decode(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode()


def to_global_id(type_name: str, raw_id: uuid.UUID | str) -> strawberry.ID:
    return strawberry.ID(_b64encode(f"{type_name}:{raw_id}"))


def from_global_id(value: str) -> tuple[str, uuid.UUID] | None:
    """The type name and the id inside a global id; None for anything the gateway did not hand out."""
    try:
        type_name, _, raw = _b64decode(str(value)).partition(":")
        return type_name, uuid.UUID(raw)
    except (ValueError, UnicodeError, binascii.Error):
        return None


def global_id_of(type_name: str, value: str) -> uuid.UUID | None:
    """The id inside ``value`` when it is a global id of ``type_name``, else None."""
    decoded = from_global_id(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


@strawberry.interface(description="An object with a global id: refetch it with `node(id:)` (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque and global: never parse it.")


# --- connections ---------------------------------------------------------------------------------


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = strawberry.field(description="The first edge's cursor; null on an empty page.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor; null on an empty page.")


@strawberry.type(description="One item of a page and its position.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list: pass `pageInfo.endCursor` as `after` (or `startCursor` as `before`).")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def encode_position(connection: str, position: Sequence[str]) -> str:
    return _b64encode(json.dumps([_CURSOR_VERSION, connection, *position], separators=(",", ":")))


def decode_position(connection: str, cursor: str, width: int) -> list[str]:
    try:
        decoded = json.loads(_b64decode(cursor))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != width + 2
        or decoded[0] != _CURSOR_VERSION
        or not all(isinstance(part, str) for part in decoded)
    ):
        raise invalid_cursor()
    if decoded[1] != connection:
        raise invalid_cursor(f"the cursor belongs to another list ({decoded[1]}), not to {connection}")
    return decoded[2:]


@dataclass(frozen=True)
class PageRequest:
    """``first``/``after`` or ``last``/``before``, checked. ``cursor`` is still the client's cursor."""

    connection: str
    size: int
    backward: bool
    cursor: str | None


def _problem(field: str, message: str) -> GatewayError:
    return GatewayError(
        "validation_failed", f"{field}: {message}", status=422, details=[{"loc": [field], "message": message}]
    )


def page_request(
    connection: str, *, first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """Relay's arguments, refused when they make no sense: both ``first`` and ``last``, a size out of
    1..100, ``after`` with ``last`` or ``before`` with ``first`` (one direction a page)."""
    if first is not None and last is not None:
        raise _problem("last", "pass first (with after) or last (with before), not both")
    backward = last is not None or before is not None
    if backward and after is not None:
        raise _problem("after", "after goes with first; read backward with last and before")
    if not backward and before is not None:
        raise _problem("before", "before goes with last")
    size = last if backward else first
    if backward and first is not None:
        raise _problem("first", "first goes with after; read backward with last and before")
    size = DEFAULT_PAGE_SIZE if size is None else size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _problem("last" if backward else "first", f"must be between 1 and {MAX_PAGE_SIZE}")
    return PageRequest(connection, size, backward, before if backward else after)


@dataclass(frozen=True)
class KeysetList(Generic[Item]):
    """A service's keyset list as the gateway pages it: the connection's name, and where each item sits
    (its sort time and its id, which the service's ``read_page`` orders by)."""

    connection: str
    sort_key: Callable[[Item], datetime | None]
    row_id: Callable[[Item], uuid.UUID]

    def cursor_of(self, item: Item) -> str:
        at = self.sort_key(item)
        if at is None:
            raise ValueError(f"an item of {self.connection} has no sort time")
        return encode_position(self.connection, [at.isoformat(), str(self.row_id(item))])

    def service_cursor(self, cursor: str) -> str:
        """The service's own cursor for the position a gateway cursor names."""
        at, row_id = decode_position(self.connection, cursor, 2)
        try:
            return encode_cursor(datetime.fromisoformat(at), uuid.UUID(row_id))
        except ValueError as exc:
            raise invalid_cursor() from exc


def keyset_connection(
    request: PageRequest,
    items: Sequence[Item],
    service_next: str | None,
    keyset: KeysetList[Item],
    node: Callable[[Item], T],
) -> Connection[T]:
    """A page the service read (forward after ``request.cursor``, or backward before it), as a
    connection. The service's ``next_cursor`` says whether more items lie in the reading direction;
    the other direction is known cheaply only when the page starts from a cursor (Relay allows that)."""
    edges = [Edge(cursor=keyset.cursor_of(i), node=node(i)) for i in items]
    more_ahead = service_next is not None
    from_cursor = request.cursor is not None
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=from_cursor if request.backward else more_ahead,
            has_previous_page=more_ahead if request.backward else from_cursor,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def list_connection(
    request: PageRequest, items: Sequence[Item], position: Callable[[Item], str], node: Callable[[Item], T]
) -> Connection[T]:
    """A page of a short list the service answers whole (ordered by ``position``), sliced here with
    Relay's algorithm: cursors first, then ``first`` or ``last``."""
    start, end = 0, len(items)
    if request.cursor is not None:
        (at,) = decode_position(request.connection, request.cursor, 1)
        keys = [position(i) for i in items]
        if request.backward:
            end = sum(1 for k in keys if k < at)
        else:
            start = sum(1 for k in keys if k <= at)
    window = list(items[start:end])
    if request.backward:
        page = window[-request.size :]
        has_previous, has_next = len(window) > len(page), end < len(items)
    else:
        page = window[: request.size]
        has_previous, has_next = start > 0, len(window) > len(page)
    edges = [Edge(cursor=encode_position(request.connection, [position(i)]), node=node(i)) for i in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def service_page(request: PageRequest, keyset: KeysetList[Any]) -> PageQuery:
    """The service call for a page: forward after the cursor's position, or backward before it (from
    the end of the list when there is no cursor)."""
    position = keyset.service_cursor(request.cursor) if request.cursor is not None else None
    if request.backward:
        return PageQuery(limit=request.size, before=position or "")
    return PageQuery(limit=request.size, cursor=position)

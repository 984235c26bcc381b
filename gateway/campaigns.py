"""The ranked feed's paging in GraphQL (issue 7): its cursors are the service's own rank keys.

The feed is not ordered by a time and an id like the other keyset lists (gateway/relay.py's
``KeysetList``): content ranks it (pins, campaign priority, freshness, what the caller shared) and hands
each item its own cursor, which the gateway wraps as the edge's cursor and unwraps on the way back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from gateway.clients import PageQuery
from gateway.relay import Connection, Edge, PageInfo, PageRequest, decode_position, encode_position
from services.content.feed import FeedItem

FEED = "feed"
# A feed cursor has the width of the other lists' (time, id), so that another list's cursor is told
# apart by its list's name ("belongs to another list") rather than by its shape.
_RANKED = "ranked"
T = TypeVar("T")


def ranked_page(request: PageRequest) -> PageQuery:
    """The content call for a feed page: after (or before) the item a gateway cursor names."""
    position = decode_position(FEED, request.cursor, 2)[0] if request.cursor is not None else None
    if request.backward:
        return PageQuery(limit=request.size, before=position or "")
    return PageQuery(limit=request.size, cursor=position)


def ranked_connection(
    request: PageRequest, items: Sequence[FeedItem], service_next: str | None, node: Callable[[FeedItem], T]
) -> Connection[T]:
    edges = [Edge(cursor=encode_position(FEED, [item.cursor, _RANKED]), node=node(item)) for item in items]
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

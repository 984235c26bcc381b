"""The employee's feed: what reaches them, ranked, a page at a time.

An item is in a member's feed when it is published, not expired, its own audience and its campaign's
(if any, and the campaign is not archived) reach the member (condividi/audience.py, here in SQL), and it
matches the topic and campaign filters. Targeting is applied here, when the feed is read: publishing
writes one row whatever the audience's size.

The rank, best first: items the member has not shared before those they have (which are marked
``shared_by_me``); then pinned items (``pinned_position`` ascending, while ``pinned_until`` is unset or
ahead); then the campaign's priority (items in no campaign count as 0); then the newest; then the id.

The rank splits into three sections, each read in an order an index serves: 0, the pinned items the
member has not shared (few; ``content_items_pinned``); 1, the other items they have not shared (most of
them, walked in ``content_items_ranked`` order and stopped after a page); 2, the items they shared (few;
from ``member_shares``). One statement reads each section that can still hold the page, at most a page
each, and orders those few rows. A cursor is the last row's rank key: (section, pin, priority,
published_at, id).

Plain SQL on asyncpg (``Database.fetch``), not the ORM: every employee reads this page (bench/README.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from condividi.audience import Profile, language_keys_reached_by, location_key
from condividi.db import Database
from condividi.errors import ApiError
from condividi.pagination import MAX_CURSOR_LENGTH, Page
from services.content.campaigns import audience_of
from services.content.models import ContentItem, ContentItemPublic, ContentStatus

PINNED, RANKED, SHARED = 0, 1, 2
SECTIONS = (PINNED, RANKED, SHARED)
_CURSOR_VERSION = "f1"


class FeedItem(ContentItemPublic):
    shared_by_me: bool = Field(description="The caller already shared it (shared items come after the rest).")
    pinned: bool = Field(description="Pinned by a curator (pinned items come first).")
    cursor: str = Field(description="This item's position: pass it as `cursor` to read the items after it.")


FeedPage = Page[FeedItem]


@dataclass(frozen=True)
class Position:
    """Where an item sits in the feed's order (see the module's docstring)."""

    section: int
    pin: int
    priority: int
    published_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = [_CURSOR_VERSION, self.section, self.pin, self.priority, self.published_at.isoformat(), str(self.id)]
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        invalid = ApiError(400, "invalid_cursor", "the cursor is not one this API handed out")
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise invalid
        try:
            decoded = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")))
            if not (isinstance(decoded, list) and len(decoded) == 6 and decoded[0] == _CURSOR_VERSION):
                raise invalid
            _, section, pin, priority, at, row_id = decoded
            ints = (section, pin, priority)
            if not all(type(v) is int and -(2**31) <= v < 2**31 for v in ints) or section not in SECTIONS:
                raise invalid
            published_at = datetime.fromisoformat(at)
            if published_at.tzinfo is None:
                raise invalid
            return cls(section, pin, priority, published_at.astimezone(UTC), uuid.UUID(row_id))
        except (ValueError, TypeError, OverflowError, UnicodeError, binascii.Error, RecursionError) as exc:
            raise invalid from exc


@dataclass(frozen=True)
class FeedQuery:
    limit: int
    cursor: Position | None = None
    backward: bool = False
    topic: str | None = None
    campaign_id: uuid.UUID | None = None


# The content item's columns the page shows (the public model's fields that are columns), then the
# audience columns its ``audience`` is built from.
_ITEM_COLUMNS = [name for name in ContentItemPublic.model_fields if name in ContentItem.model_fields]
_AUDIENCE_COLUMNS = ["target_team_ids", "target_locations", "target_languages", "target_roles"]
_SELECTED = ", ".join(f"i.{name}" for name in dict.fromkeys([*_ITEM_COLUMNS, *_AUDIENCE_COLUMNS, "feed_priority"]))
# No pin: after every pinned position (an int column).
_UNPINNED = 2**31 - 1


def _reaches(alias: str) -> str:
    """The audience rule of condividi/audience.py on ``alias``'s target columns, against the member's
    teams ($4), location keys ($5), language keys ($6) and roles ($7). An empty array asks for nothing."""
    return " AND ".join(
        f"({alias}.{column} = '{{}}' OR {alias}.{column} && ${n})"
        for n, column in zip((4, 5, 6, 7), _AUDIENCE_COLUMNS, strict=True)
    )


_PIN_ACTIVE = "(i.pinned_position IS NOT NULL AND (i.pinned_until IS NULL OR i.pinned_until > $3))"
_PIN_RANK = f"CASE WHEN {_PIN_ACTIVE} THEN i.pinned_position ELSE {_UNPINNED} END"
_SHARED = "EXISTS (SELECT 1 FROM member_shares s WHERE s.org_id = $1 AND s.subject = $2 AND s.content_id = i.id)"
_VISIBLE = (
    f"i.org_id = $1 AND i.status = '{ContentStatus.PUBLISHED.value}' AND (i.expires_at IS NULL OR i.expires_at > $3)"
    f" AND {_reaches('i')}"
    f" AND (i.campaign_id IS NULL OR (c.org_id = $1 AND c.archived_at IS NULL AND {_reaches('c')}))"
)
# Each section: its pin expression (part of the rank key), and what else selects its rows.
_SECTION_PIN = {PINNED: "i.pinned_position", RANKED: "0", SHARED: _PIN_RANK}
_SECTION_WHERE = {
    PINNED: f"{_PIN_ACTIVE} AND NOT {_SHARED}",
    RANKED: f"NOT {_PIN_ACTIVE} AND NOT {_SHARED}",
    SHARED: _SHARED,
}


class _Args:
    def __init__(self, first: Sequence[object]) -> None:
        self.values = list(first)

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _after(keys: list[tuple[str, bool]], values: list[object], args: _Args, backward: bool) -> str:
    """Rows strictly after (before, reading backward) ``values`` in the order of ``keys`` (expression,
    ascending?). When every key runs the same way it is one row comparison, which the index walks from."""
    placeholders = [args.add(v) for v in values]
    if len({asc for _, asc in keys}) == 1:
        greater = keys[0][1] != backward
        row = ", ".join(expr for expr, _ in keys)
        return f"({row}) {'>' if greater else '<'} ({', '.join(placeholders)})"
    terms = []
    for n, (expr, asc) in enumerate(keys):
        equal = [f"{keys[m][0]} = {placeholders[m]}" for m in range(n)]
        terms.append(" AND ".join([*equal, f"{expr} {'>' if asc != backward else '<'} {placeholders[n]}"]))
    return "(" + " OR ".join(f"({t})" for t in terms) + ")"


def _branch(section: int, query: FeedQuery, args: _Args, limit: str, filters: str) -> str:
    keys: list[tuple[str, bool]] = [
        (_SECTION_PIN[section], True),
        ("i.feed_priority", False),
        ("i.published_at", False),
        ("i.id", False),
    ]
    if section == RANKED:
        keys = keys[1:]  # the pin is 0 throughout; the rest is content_items_ranked's order
    where = f"{_VISIBLE}{filters} AND {_SECTION_WHERE[section]}"
    cursor = query.cursor
    if cursor is not None and cursor.section == section:
        values: list[object] = [cursor.pin, cursor.priority, cursor.published_at, cursor.id]
        where += " AND " + _after(keys, values[-len(keys) :], args, query.backward)
    order = ", ".join(f"{expr} {'ASC' if asc != query.backward else 'DESC'}" for expr, asc in keys)
    return (
        f"(SELECT {_SELECTED}, {section} AS section, {_SECTION_PIN[section]} AS rank_pin"
        f" FROM content_items i LEFT JOIN campaigns c ON c.id = i.campaign_id"
        f" WHERE {where} ORDER BY {order} LIMIT {limit})"
    )


def feed_sql(query: FeedQuery, first_args: Sequence[object]) -> tuple[str, list[object]]:
    """The statement reading one page, and its arguments after ``first_args`` ($1..$7: org, subject,
    now, teams, location keys, language keys, roles)."""
    args = _Args(first_args)
    filters = ""
    if query.topic is not None:
        filters += f" AND {args.add(query.topic)} = ANY(i.topics)"
    if query.campaign_id is not None:
        filters += f" AND i.campaign_id = {args.add(query.campaign_id)}"
    limit = args.add(query.limit + 1)
    at = query.cursor.section if query.cursor is not None else (SHARED if query.backward else PINNED)
    # Reading forward from section s, the sections before it are behind the cursor; backward, after it.
    sections = [s for s in SECTIONS if (s <= at if query.backward else s >= at)]
    branches = " UNION ALL ".join(_branch(s, query, args, limit, filters) for s in sections)
    way = "DESC" if query.backward else "ASC"
    back = "ASC" if query.backward else "DESC"
    sql = (
        f"SELECT * FROM ({branches}) f"
        f" ORDER BY section {way}, rank_pin {way}, feed_priority {back}, published_at {back}, id {back} LIMIT {limit}"
    )
    return sql, args.values


def member_arguments(org_id: uuid.UUID, member: str, profile: Profile, now: datetime) -> list[object]:
    languages = language_keys_reached_by(profile.language) if profile.language else []
    locations = [location_key(profile.location)] if profile.location else []
    return [org_id, member, now, sorted(profile.team_ids), locations, languages, sorted(profile.roles)]


def _item(row: Any) -> FeedItem:
    position = Position(row["section"], row["rank_pin"], row["feed_priority"], row["published_at"], row["id"])
    fields = {name: row[name] for name in _ITEM_COLUMNS}
    return FeedItem(
        **fields,
        audience=audience_of(row),
        shared_by_me=row["section"] == SHARED,
        pinned=row["section"] == PINNED or (row["section"] == SHARED and row["rank_pin"] != _UNPINNED),
        cursor=position.encode(),
    )


async def read_feed(
    db: Database, org_id: uuid.UUID, member: str, profile: Profile, query: FeedQuery, now: datetime
) -> FeedPage:
    sql, args = feed_sql(query, member_arguments(org_id, member, profile, now))
    rows = await db.fetch(sql, *args)
    more = len(rows) > query.limit
    items = [_item(row) for row in rows[: query.limit]]
    next_cursor = items[-1].cursor if more else None
    if query.backward:
        items.reverse()
    return FeedPage(items=items, next_cursor=next_cursor)

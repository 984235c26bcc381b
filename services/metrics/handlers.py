"""Folds content and sharing events into the rollups.

Each handler is one SQL statement that adds to the stored counters (an upsert), never a read followed by
a write, so consumers running side by side cannot lose each other's increments. The consumer's inbox
already drops a redelivered event (same event id); the ``share_facts`` and ``unique_visits`` keys drop a
*different* event about something already counted: a share published twice, a visitor's second click on
the same link the same day.
"""

from __future__ import annotations

import uuid

from sqlalchemy import literal, select, text
from sqlalchemy.dialects.postgresql import Insert, insert

from condividi.consumer import Subscription
from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.sharing_pb2 import LinkClicked, SharePublished
from condividi.db import UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of
from services.metrics.models import content_rollups as rollups
from services.metrics.models import share_facts

TOPICS = [topic_of("content"), topic_of("sharing")]

_ROLLUP_KEY = [rollups.c.org_id, rollups.c.content_id]


class InvalidEventError(ValueError):
    """An event whose payload cannot be counted; the consumer retries it, then dead-letters it."""


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidEventError(f"{field} is not a UUID: {value!r}") from exc


def _adding_to_rollup(row: Insert, *counters: str) -> Insert:
    """The insert of a rollup row that, when the row exists, adds its ``counters`` to the stored ones."""
    return row.on_conflict_do_update(
        index_elements=_ROLLUP_KEY,
        set_={
            **{name: rollups.c[name] + row.excluded[name] for name in counters},
            "updated_at": row.excluded.updated_at,
        },
    )


async def on_content_published(uow: UnitOfWork, event: ReceivedEvent[ContentPublished]) -> None:
    """Makes the item known to the org (its stats answer from now on, all zeros), keeping any counts
    that a share or click arriving first already put there."""
    row = insert(rollups).values(
        org_id=event.org_id,
        content_id=_uuid(event.payload.content_id, "content_id"),
        title=event.payload.title,
        updated_at=utcnow(),
    )
    statement = row.on_conflict_do_update(
        index_elements=_ROLLUP_KEY,
        set_={"title": row.excluded.title, "updated_at": row.excluded.updated_at},
    )
    await uow.session.execute(statement)


async def on_share_published(uow: UnitOfWork, event: ReceivedEvent[SharePublished]) -> None:
    """Records the share once; only a share recorded now adds a share and its reach to the rollup."""
    share = event.payload
    if share.potential_reach < 0:
        raise InvalidEventError(f"potential_reach is negative: {share.potential_reach}")
    # The fact insert returns its row only when the share is new; the rollup upsert selects from that
    # result, so a share already counted inserts nothing and changes nothing, in a single statement.
    new_share = (
        insert(share_facts)
        .values(
            share_id=_uuid(share.share_id, "share_id"),
            org_id=event.org_id,
            content_id=_uuid(share.content_id, "content_id"),
            member_id=share.member_id,
            network=share.network,
            potential_reach=share.potential_reach,
            published_at=event.occurred_at,
        )
        .on_conflict_do_nothing()
        .returning(share_facts.c.org_id, share_facts.c.content_id, share_facts.c.potential_reach)
        .cte("new_share")
    )
    row = insert(rollups).from_select(
        ["org_id", "content_id", "shares", "potential_reach", "updated_at"],
        select(
            new_share.c.org_id,
            new_share.c.content_id,
            literal(1),
            new_share.c.potential_reach,
            literal(utcnow()),
        ),
    )
    await uow.session.execute(_adding_to_rollup(row.add_cte(new_share), "shares", "potential_reach"))


# A run of clicks in one statement, its rows as arrays (one statement text whatever the run's length,
# prepared once by the driver): the visits seen for the first time are inserted, and each item gets
# its clicks and, per first visit, one unique click (a tracking code belongs to one item). PostgreSQL
# parses the ids and does the grouping; Python only reads the envelopes.
_FOLD_CLICKS = text(
    "WITH click AS ("
    " SELECT * FROM unnest(CAST(:orgs AS uuid[]), CAST(:contents AS uuid[]), CAST(:codes AS varchar[]),"
    " CAST(:visitors AS varchar[]), CAST(:days AS int[])) AS c(org_id, content_id, code, visitor, day)"
    "), first_visit AS ("
    " INSERT INTO unique_visits (org_id, tracking_code, visitor_hash, day)"
    " SELECT DISTINCT org_id, code, visitor, DATE '1970-01-01' + day FROM click"
    " WHERE code <> '' AND visitor <> ''"
    " ON CONFLICT DO NOTHING RETURNING org_id, tracking_code, visitor_hash, day"
    "), unique_click AS ("
    " SELECT DISTINCT ON (v.org_id, v.tracking_code, v.visitor_hash, v.day) c.org_id, c.content_id"
    " FROM first_visit v JOIN click c ON c.org_id = v.org_id AND c.code = v.tracking_code"
    " AND c.visitor = v.visitor_hash AND DATE '1970-01-01' + c.day = v.day"
    "), per_item AS ("
    " SELECT org_id, content_id, count(*) AS clicks, 0 AS uniques FROM click GROUP BY 1, 2"
    " UNION ALL SELECT org_id, content_id, 0, count(*) FROM unique_click GROUP BY 1, 2"
    ") "
    "INSERT INTO content_rollups (org_id, content_id, clicks, unique_clicks, updated_at) "
    "SELECT org_id, content_id, sum(clicks), sum(uniques), :now FROM per_item GROUP BY 1, 2 "
    "ON CONFLICT (org_id, content_id) DO UPDATE SET "
    "clicks = content_rollups.clicks + excluded.clicks, "
    "unique_clicks = content_rollups.unique_clicks + excluded.unique_clicks, "
    "updated_at = excluded.updated_at"
)
_CLICK_URL = "type.condividi.dev/" + LinkClicked.DESCRIPTOR.full_name
_DAY = 86_400


async def on_links_clicked(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Every click adds one click; the visitor's first click on a link on a UTC day also adds one unique
    click. A run of clicks is folded in one statement whatever its length (clicks are the one event
    that comes by the thousand). The envelopes come unopened (``BatchHandler``): only the fields the
    fold needs are read."""
    orgs: list[str] = []
    contents: list[str] = []
    codes: list[str] = []
    visitors: list[str] = []
    days: list[int] = []
    parse = LinkClicked.FromString
    for envelope in envelopes:
        packed = envelope.payload
        if packed.type_url != _CLICK_URL:
            raise InvalidEventError(f"payload is not a LinkClicked: {packed.type_url!r}")
        click = parse(packed.value)
        orgs.append(envelope.org_id)
        contents.append(click.content_id)
        codes.append(click.tracking_code)
        visitors.append(click.visitor_hash)
        days.append(envelope.occurred_at.seconds // _DAY)
    # Checked once per distinct id, not per click: a run has thousands of clicks on a few items.
    for org_id in set(orgs):
        _uuid(org_id, "org_id")
    for content_id in set(contents):
        _uuid(content_id, "content_id")
    await uow.session.execute(
        _FOLD_CLICKS,
        {"orgs": orgs, "contents": contents, "codes": codes, "visitors": visitors, "days": days, "now": utcnow()},
    )


def rollups_subscription() -> Subscription:
    """The one consumer group of the service."""
    return Subscription.of(
        "metrics.rollups",
        TOPICS,
        {
            ContentPublished: on_content_published,
            SharePublished: on_share_published,
        },
        batch_handlers={LinkClicked: on_links_clicked},
    )

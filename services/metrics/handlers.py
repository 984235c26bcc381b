"""Folds content and sharing events into the rollups.

Each handler is one SQL statement that adds to the stored counters (an upsert), never a read followed by
a write, so consumers running side by side cannot lose each other's increments. The consumer's inbox
already drops a redelivered event (same event id); the ``share_facts`` and ``unique_visits`` keys drop a
*different* event about something already counted: a share published twice, a visitor's second click on
the same link the same day.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from sqlalchemy import literal, select, text
from sqlalchemy.dialects.postgresql import Insert, insert

from condividi.consumer import Subscription
from condividi.contracts.content_pb2 import ContentPublished
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


# The two statements of a run of clicks, each taking its rows as arrays: one statement text whatever the
# run's length, prepared once by the driver. (SQLAlchemy's multi-row VALUES compiled a new statement of
# thousands of parameters for every run: 60% of the fold's time, by the profile in bench/README.md.)
_FIRST_VISITS = text(
    "INSERT INTO unique_visits (org_id, tracking_code, visitor_hash, day) "
    "SELECT * FROM unnest(CAST(:orgs AS uuid[]), CAST(:codes AS varchar[]), CAST(:visitors AS varchar[]), "
    "CAST(:days AS date[])) "
    "ON CONFLICT DO NOTHING RETURNING org_id, tracking_code, visitor_hash, day"
)
_ADD_CLICKS = text(
    "INSERT INTO content_rollups (org_id, content_id, clicks, unique_clicks, updated_at) "
    "SELECT o, c, n, u, :now FROM unnest(CAST(:orgs AS uuid[]), CAST(:contents AS uuid[]), "
    "CAST(:clicks AS bigint[]), CAST(:uniques AS bigint[])) AS run(o, c, n, u) "
    "ON CONFLICT (org_id, content_id) DO UPDATE SET "
    "clicks = content_rollups.clicks + excluded.clicks, "
    "unique_clicks = content_rollups.unique_clicks + excluded.unique_clicks, "
    "updated_at = excluded.updated_at"
)


async def on_links_clicked(uow: UnitOfWork, events: list[ReceivedEvent[LinkClicked]]) -> None:
    """Every click adds one click; the visitor's first click on a link on a UTC day also adds one unique
    click. A run of clicks is folded in two statements whatever its length (clicks are the one event
    that comes by the thousand): one insert of the visits, which returns those seen for the first time,
    and one upsert of the per-item sums."""
    clicks: list[tuple[uuid.UUID, uuid.UUID, tuple[Any, ...] | None]] = []
    for event in events:
        click = event.payload
        content_id = _uuid(click.content_id, "content_id")
        visit = None
        if click.tracking_code and click.visitor_hash:
            visit = (event.org_id, click.tracking_code, click.visitor_hash, event.occurred_at.astimezone(UTC).date())
        clicks.append((event.org_id, content_id, visit))
    visits = list(dict.fromkeys(v for _, _, v in clicks if v is not None))
    first_visits: set[tuple[Any, ...]] = set()
    if visits:
        orgs, codes, visitors, days = (list(column) for column in zip(*visits, strict=True))
        new = await uow.session.execute(
            _FIRST_VISITS, {"orgs": orgs, "codes": codes, "visitors": visitors, "days": days}
        )
        first_visits = {tuple(r) for r in new}
    sums: dict[tuple[uuid.UUID, uuid.UUID], list[int]] = {}
    for org_id, content_id, visit in clicks:
        total = sums.setdefault((org_id, content_id), [0, 0])
        total[0] += 1
        if visit in first_visits:
            total[1] += 1
            first_visits.discard(visit)  # a visitor's second click in the same run is not unique
    keys = list(sums)
    await uow.session.execute(
        _ADD_CLICKS,
        {
            "orgs": [o for o, _ in keys],
            "contents": [c for _, c in keys],
            "clicks": [sums[k][0] for k in keys],
            "uniques": [sums[k][1] for k in keys],
            "now": utcnow(),
        },
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

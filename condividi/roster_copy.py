"""Each service's own copy of who is on the roster: a member's roles and whether they are active, and
what audiences are matched on (teams, location, language: condividi/audience.py), kept from policy's
``MemberUpserted`` / ``MemberDeactivated`` events (never by calling policy).

The Caller dependency reads it on every authenticated request (``lookup_in``): a deactivated member is
refused with 403 ``member_deactivated`` although their identity provider's token has not expired, and a
known member's roles are the token's roles intersected with the roster's. A subject the roster has never
announced keeps the token's roles, as before the roster existed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel

from condividi.audience import Profile
from condividi.consumer import Handler, Subscription
from condividi.contracts.policy_pb2 import MemberDeactivated, MemberUpserted
from condividi.db import Database, UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of
from condividi.identity.caller import RosterLookup, RosterStatus


class RosterEntry(SQLModel, table=True):
    __tablename__ = "roster_copy"

    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    subject: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    roles: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.String(16)), nullable=False))
    active: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    team_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default=sa.text("'{}'")),
    )
    location: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    language: str | None = Field(default=None, sa_column=sa.Column(sa.String(35)))


def create_roster_copy_table() -> None:
    """Alembic operations for the copy; call from a service's migration."""
    op.create_table(
        "roster_copy",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("roles", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def drop_roster_copy_table() -> None:
    op.drop_table("roster_copy")


def add_profile_columns() -> None:
    """Alembic operations adding what audiences match on; call from a service's migration. Members the
    copy already holds get their teams, location and language with their next ``MemberUpserted``."""
    op.add_column(
        "roster_copy",
        sa.Column("team_ids", postgresql.ARRAY(sa.Uuid), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("roster_copy", sa.Column("location", sa.String(200)))
    op.add_column("roster_copy", sa.Column("language", sa.String(35)))


def drop_profile_columns() -> None:
    for name in ("language", "location", "team_ids"):
        op.drop_column("roster_copy", name)


_PROFILE_SQL = "SELECT team_ids, location, language FROM roster_copy WHERE org_id = $1 AND subject = $2"


async def profile_of(db: Database, org_id: uuid.UUID, subject: str, roles: Collection[str]) -> Profile:
    """What audiences see of a caller: the copy's teams, location and language, and the caller's roles
    (already the roster's, Caller applies them). A subject the roster never announced has no team,
    location or language: only audiences that do not ask for them reach it."""
    rows = await db.fetch(_PROFILE_SQL, org_id, subject)
    if not rows:
        return Profile.of(roles=roles)
    row = rows[0]
    return Profile.of(row["team_ids"], row["location"], row["language"], roles)


_STATUS_SQL = "SELECT roles, active FROM roster_copy WHERE org_id = $1 AND subject = $2"


def lookup_in(db: Database) -> RosterLookup:
    async def lookup(org_id: uuid.UUID, subject: str) -> RosterStatus | None:
        # Every authenticated request asks this: one SELECT on the fast pool, not an ORM session (the
        # profile showed the session at a third of a feed read's CPU; bench/README.md).
        rows = await db.fetch(_STATUS_SQL, org_id, subject)
        if not rows:
            return None
        return RosterStatus(frozenset(rows[0]["roles"]), rows[0]["active"])

    return lookup


async def _store(
    uow: UnitOfWork,
    org_id: uuid.UUID,
    subject: str,
    roles: list[str] | None,
    active: bool,
    profile: Mapping[str, object] | None = None,
) -> None:
    values: dict[str, object] = {"org_id": org_id, "subject": subject, "active": active, "updated_at": utcnow()}
    update: dict[str, object] = {"active": active, "updated_at": values["updated_at"]}
    if roles is not None:
        values["roles"] = update["roles"] = roles
    else:
        values["roles"] = []
    if profile is not None:
        values.update(profile)
        update.update(profile)
    await uow.session.execute(
        insert(RosterEntry).values(values).on_conflict_do_update(index_elements=["org_id", "subject"], set_=update)
    )


async def on_member_upserted(uow: UnitOfWork, event: ReceivedEvent[MemberUpserted]) -> None:
    member = event.payload
    profile = {
        "team_ids": _team_ids(member.team_ids),
        "location": member.location or None,
        "language": member.language or None,
    }
    await _store(uow, event.org_id, member.subject, list(member.roles), member.active, profile)


def _team_ids(raw: Collection[str]) -> list[uuid.UUID]:
    # Policy writes uuids; a value that is not one names no team an audience could ask for.
    ids: list[uuid.UUID] = []
    for value in raw:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


async def on_member_deactivated(uow: UnitOfWork, event: ReceivedEvent[MemberDeactivated]) -> None:
    # Keeps the roles it knew (none if this is the first it hears of the member): only the flag changes.
    await _store(uow, event.org_id, event.payload.subject, None, False)


def roster_subscription(service: str, extra: Mapping[type, Handler] | None = None) -> Subscription:
    """The consumer group ``<service>.roster`` that keeps the copy; ``extra`` adds the service's own
    reaction to an event (sharing's kill-switch), run in the same unit of work after the copy is stored."""
    handlers: dict[type, Handler] = {MemberUpserted: on_member_upserted, MemberDeactivated: on_member_deactivated}
    for event_type, reaction in (extra or {}).items():
        first = handlers[event_type]
        handlers[event_type] = _both(first, reaction)
    return Subscription.of(f"{service}.roster", [topic_of("policy")], handlers)  # type: ignore[arg-type]


def _both(first: Handler, then: Handler) -> Handler:
    async def handle(uow: UnitOfWork, event: ReceivedEvent[object]) -> None:  # type: ignore[type-var]
        await first(uow, event)
        await then(uow, event)

    return handle

"""What content keeps of other services' facts, from their events (never by calling them): the org's
teams (policy's ``TeamChanged``), so an audience naming a team that does not exist is refused, and who
shared what (sharing's ``SharePublished``), so the items a member already shared sink in their feed."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col, select

from condividi.consumer import Subscription
from condividi.contracts.policy_pb2 import TeamChanged
from condividi.contracts.sharing_pb2 import SharePublished
from condividi.db import Database, UnitOfWork, utcnow
from condividi.events import ReceivedEvent, topic_of


class TeamCopy(SQLModel, table=True):
    __tablename__ = "teams_copy"

    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    team_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MemberShare(SQLModel, table=True):
    """One row per member and item they shared (however many times, on however many networks)."""

    __tablename__ = "member_shares"

    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    subject: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    content_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    shared_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


async def on_team_changed(uow: UnitOfWork, event: ReceivedEvent[TeamChanged]) -> None:
    team = event.payload
    try:
        team_id = uuid.UUID(team.team_id)
    except ValueError:
        return  # policy writes uuids; anything else names no team an audience could use
    if team.deleted:
        await uow.session.execute(
            delete(TeamCopy).where(col(TeamCopy.org_id) == event.org_id, col(TeamCopy.team_id) == team_id)
        )
        return
    values = {"org_id": event.org_id, "team_id": team_id, "name": team.name[:200], "updated_at": utcnow()}
    await uow.session.execute(
        insert(TeamCopy)
        .values(values)
        .on_conflict_do_update(index_elements=["org_id", "team_id"], set_={"name": values["name"]})
    )


async def on_share_published(uow: UnitOfWork, event: ReceivedEvent[SharePublished]) -> None:
    share = event.payload
    try:
        content_id = uuid.UUID(share.content_id)
    except ValueError:
        return
    await uow.session.execute(
        insert(MemberShare)
        .values(org_id=event.org_id, subject=share.member_id, content_id=content_id, shared_at=event.occurred_at)
        .on_conflict_do_nothing(index_elements=["org_id", "subject", "content_id"])
    )


async def known_teams(db: Database, org_id: uuid.UUID, wanted: list[uuid.UUID]) -> set[uuid.UUID]:
    if not wanted:
        return set()
    async with db.read() as session:
        rows = await session.scalars(
            select(TeamCopy.team_id).where(col(TeamCopy.org_id) == org_id, col(TeamCopy.team_id).in_(wanted))
        )
        return set(rows.all())


def subscriptions() -> list[Subscription]:
    return [
        Subscription.of("content.teams", [topic_of("policy")], {TeamChanged: on_team_changed}),  # type: ignore[dict-item]
        Subscription.of("content.shares", [topic_of("sharing")], {SharePublished: on_share_published}),  # type: ignore[dict-item]
    ]

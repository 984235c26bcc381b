"""Rollups of shares, clicks and reach per content item, and the facts that keep them exact.

Counters are only ever changed by SQL upserts that add to the stored value, never by reading a row and
writing it back, so several consumers can fold events into the same row at once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

REACH_NOTE = (
    "potential_reach is the sum of the sharing employees' audiences on each network at share time "
    "(followers or connections as the network reports them; LinkedIn caps connections at 500). "
    "It counts audience slots, not unique people: colleagues' audiences overlap."
)

MAX_BATCH_IDS = 100


def _counter() -> sa.Column[int]:
    return sa.Column(sa.BigInteger, nullable=False, server_default="0")


class ContentRollup(SQLModel, table=True):
    """One row per content item of an org. It may be created by a share or a click that arrives before
    the item's ``ContentPublished`` (the events travel on different topics, so in no fixed order)."""

    __tablename__ = "content_rollups"

    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    content_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    title: str = Field(default="", sa_column=sa.Column(sa.String, nullable=False, server_default=""))
    shares: int = Field(default=0, sa_column=_counter())
    clicks: int = Field(default=0, sa_column=_counter())
    unique_clicks: int = Field(default=0, sa_column=_counter())
    potential_reach: int = Field(default=0, sa_column=_counter())
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ShareFact(SQLModel, table=True):
    """Each published share once: a second ``SharePublished`` for the same share (a re-publish, or a
    replay under a new event id) finds its row here and adds nothing to the rollup."""

    __tablename__ = "share_facts"

    share_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    content_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    member_id: str
    network: str
    potential_reach: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    published_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class UniqueVisit(SQLModel, table=True):
    """A visitor seen on a tracking link on a (UTC) day: unique clicks are these rows."""

    __tablename__ = "unique_visits"

    org_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    tracking_code: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    visitor_hash: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))


# The Core tables behind the models, for the upserts and aggregates (SQLModel types only the ORM side).
content_rollups = SQLModel.metadata.tables["content_rollups"]
share_facts = SQLModel.metadata.tables["share_facts"]
unique_visits = SQLModel.metadata.tables["unique_visits"]


class ContentStats(BaseModel):
    content_id: uuid.UUID
    shares: int = PydanticField(description="Shares published (each share counted once).")
    clicks: int = PydanticField(description="Clicks on the shares' tracking links, crawlers excluded.")
    unique_clicks: int = PydanticField(description="Distinct (tracking link, visitor) pairs per UTC day.")
    potential_reach: int = PydanticField(description="Sum of the sharing employees' audiences at share time.")
    reach_note: str = PydanticField(default=REACH_NOTE, description="How to read potential_reach.")


class ContentStatsBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_ids: list[uuid.UUID] = PydanticField(max_length=MAX_BATCH_IDS)


class ContentStatsBatch(BaseModel):
    # In the order asked for; ids unknown to the caller's org are left out.
    items: list[ContentStats]


class OrgSummary(BaseModel):
    content_items: int = PydanticField(description="Content items with a rollup in the org.")
    shares: int
    clicks: int
    unique_clicks: int
    potential_reach: int
    reach_note: str = PydanticField(default=REACH_NOTE, description="How to read potential_reach.")

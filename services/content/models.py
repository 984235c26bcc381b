"""Content items: what curators publish for employees to share."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AnyHttpUrl, BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from condividi.audience import Audience
from condividi.db import utcnow
from condividi.validation import SingleLine, StoredText

MAX_URL_LENGTH = 2048
# What the schema says of ``url`` (pydantic's AnyHttpUrl checks it): an http or https URL with a host.
HTTP_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"


class ContentStatus(StrEnum):
    """draft -> scheduled -> published -> expired / archived (docs/content.md)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    EXPIRED = "expired"
    ARCHIVED = "archived"


def _audience_column(item_type: sa.types.TypeEngine[Any]) -> sa.Column[Any]:
    return sa.Column(postgresql.ARRAY(item_type), nullable=False, server_default=sa.text("'{}'"))


class Campaign(SQLModel, table=True):
    """A group of items with a goal, dates, its own UTM name, a disclosure policy enforces on shares of
    its items, an optional required certification, a feed priority and an audience."""

    __tablename__ = "campaigns"
    __table_args__ = (sa.Index("campaigns_by_org_name", "org_id", "name", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    goal: str = ""
    starts_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    ends_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    utm_campaign: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    required_disclosure: str = Field(default="", sa_column=sa.Column(sa.String(280), nullable=False))
    required_certification_id: uuid.UUID | None = None
    priority: int = 0
    archived_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    created_by: str
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # The audience as condividi/audience.py stores it (AudienceKeys): empty arrays reach everyone.
    target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_items"
    __table_args__ = (
        sa.Index("content_items_feed", "org_id", "status", "published_at", "id"),
        # The feed's order after the pins (services/content/feed.py), and its pinned items (migration 0005).
        sa.Index(
            "content_items_ranked",
            "org_id",
            sa.text("feed_priority DESC"),
            sa.text("published_at DESC"),
            sa.text("id DESC"),
            postgresql_where=sa.text("status = 'published'"),
        ),
        sa.Index(
            "content_items_pinned",
            "org_id",
            "pinned_position",
            postgresql_where=sa.text("status = 'published' AND pinned_position IS NOT NULL"),
        ),
        sa.Index("content_items_by_campaign", "campaign_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    title: str
    url: str
    summary: str = ""
    suggested_caption: str = ""
    status: ContentStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    created_by: str
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # When a scheduled item is to be published; the scheduler publishes it then.
    publish_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    archived_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    # 0 until first published; each edit of a published item publishes the next revision.
    revision: int = 0
    topics: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    image_url: str | None = None
    image_alt: str = ""
    # Pinned items come first in the feed, by position (1 = top), until ``pinned_until``.
    pinned_position: int | None = None
    pinned_until: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    campaign_id: uuid.UUID | None = Field(default=None, foreign_key="campaigns.id")
    # The campaign's priority, kept by triggers (migration 0005): the feed's index orders by it.
    feed_priority: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))


class ContentItemCreate(BaseModel):
    title: Annotated[str, SingleLine.not_blank()] = PydanticField(min_length=1, max_length=300)
    url: AnyHttpUrl = PydanticField(
        description="The page employees share (http or https).",
        json_schema_extra={"pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_LENGTH},
    )
    summary: Annotated[str, StoredText] = PydanticField(default="", max_length=2000)
    suggested_caption: Annotated[str, StoredText] = PydanticField(
        default="", max_length=3000, description="A starting point; employees are asked to write their own."
    )

    @field_validator("url", mode="before")
    @classmethod
    def _not_too_long(cls, value: object) -> object:
        # The length as sent, which the schema's maxLength states (normalising may lengthen it).
        if isinstance(value, str) and len(value) > MAX_URL_LENGTH:
            raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
        return value

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is blank")
        return value.strip()


class ContentItemPublic(BaseModel):
    id: uuid.UUID
    title: str
    url: str
    summary: str
    suggested_caption: str
    status: ContentStatus
    created_by: str
    created_at: datetime
    published_at: datetime | None
    campaign_id: uuid.UUID | None = None
    audience: Audience = PydanticField(
        default_factory=Audience, description="Whom the item is for (with its campaign's audience); empty: everyone."
    )
    campaign_audience: Audience | None = PydanticField(
        default=None, description="Its campaign's audience, on one item's answer (null: in no campaign)."
    )

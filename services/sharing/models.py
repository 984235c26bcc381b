"""Shares, the employee's social connections, and the catalog of shareable content."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, field_validator
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from condividi.audience import AudienceKeys, Profile
from condividi.networks import Network, SupportedNetwork
from condividi.validation import SingleLine, StoredText


class ShareStatus(StrEnum):
    PENDING_POLICY = "pending_policy"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"
    # Ready on the network: posted through its API, or an intent link handed to the employee.
    PUBLISHED = "published"


class PublishMethod(StrEnum):
    INTENT = "intent"
    API = "api"


def _audience_column(item_type: sa.types.TypeEngine[Any]) -> sa.Column[Any]:
    return sa.Column(postgresql.ARRAY(item_type), nullable=False, server_default=sa.text("'{}'"))


class CatalogItem(SQLModel, table=True):
    """This service's copy of each published content item, kept from ``ContentPublished`` events (its
    latest revision) and ``ContentWithdrawn`` (it can no longer be shared)."""

    __tablename__ = "content_catalog"

    content_id: uuid.UUID = Field(primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    title: str
    url: str
    published_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revision: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # Set by ContentWithdrawn (reason: expired, archived, unpublished, deleted); cleared by a newer revision.
    withdrawn_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    withdrawn_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    campaign_id: uuid.UUID | None = None
    required_disclosure: str = Field(default="", sa_column=sa.Column(sa.String(280), nullable=False, server_default=""))
    utm_campaign: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""))
    # Whom it is for (condividi/audience.py keys): the item's own audience and its campaign's; a share is
    # refused unless both reach its author. Empty arrays: everyone.
    target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    campaign_target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    campaign_target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    campaign_target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    campaign_target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))

    def audiences(self) -> tuple[AudienceKeys, AudienceKeys]:
        """The item's own audience and its campaign's."""
        own = AudienceKeys(
            frozenset(self.target_team_ids),
            frozenset(self.target_locations),
            frozenset(self.target_languages),
            frozenset(self.target_roles),
        )
        campaign = AudienceKeys(
            frozenset(self.campaign_target_team_ids),
            frozenset(self.campaign_target_locations),
            frozenset(self.campaign_target_languages),
            frozenset(self.campaign_target_roles),
        )
        return own, campaign

    def reaches(self, member: Profile) -> bool:
        return all(audience.reaches(member) for audience in self.audiences())

    # What the personal-touch score compares a share with (condividi/captions.py): the item's default
    # caption and its captions per network and language, [{network, language, text}], from ContentPublished.
    suggested_caption: str = Field(default="", sa_column=sa.Column(sa.String, nullable=False, server_default=""))
    captions: list[dict[str, str]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )


class Connection(SQLModel, table=True):
    __tablename__ = "social_connections"
    __table_args__ = (sa.UniqueConstraint("org_id", "member_id", "network"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    member_id: str
    network: str
    handle: str
    audience_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class Share(SQLModel, table=True):
    __tablename__ = "shares"
    __table_args__ = (
        sa.Index("shares_by_member", "org_id", "member_id", "created_at", "id"),
        sa.Index("shares_by_post", "org_id", "member_id", "content_id", "network"),
        # NULLs are distinct: shares made without a key never clash with each other.
        sa.UniqueConstraint("org_id", "member_id", "idempotency_key", name="shares_idempotency_key"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    member_id: str
    content_id: uuid.UUID
    network: str
    text: str
    status: ShareStatus = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    violations: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    publish_method: PublishMethod | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    intent_url: str | None = None
    tracking_code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    potential_reach: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # The client's Idempotency-Key, and what the request asked for (rules.ShareRequest.fingerprint).
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    request_fingerprint: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    # What was shared, as the item was then: a later revision (another URL, another campaign) changes
    # neither the share's link nor what policy checks it against. Null on shares made before these
    # were kept: the catalog's answers.
    content_revision: int | None = None
    destination_url: str | None = None
    utm_campaign: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    campaign_id: uuid.UUID | None = None
    required_disclosure: str = Field(default="", sa_column=sa.Column(sa.String(280), nullable=False, server_default=""))
    # How much of ``text`` is the employee's own, 0..1 (condividi/captions.py); None: no caption to compare.
    personal_touch: float | None = Field(default=None, sa_column=sa.Column(sa.Float))


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_text", "the text may not be empty or blank")
    return value


class ShareCreate(BaseModel):
    content_id: uuid.UUID
    network: SupportedNetwork = PydanticField(description="One of the supported networks (case is ignored).")
    text: Annotated[str, StoredText.not_blank()] = PydanticField(
        max_length=70_000,
        description="The employee's own words, not empty or blank; the link is added by the network.",
        json_schema_extra={"minLength": 1},
    )

    _text_is_not_blank = field_validator("text")(_not_blank)


class Violation(BaseModel):
    code: str
    message: str


class SharePublic(BaseModel):
    id: uuid.UUID
    content_id: uuid.UUID
    member_id: str
    network: Network
    text: str
    status: ShareStatus
    violations: list[Violation]
    publish_method: PublishMethod | None
    intent_url: str | None = PydanticField(description="Set once the share is published; null before and if rejected.")
    # When false, the network ignores pre-filled text: the client should offer "copy text" first.
    intent_keeps_text: bool
    tracking_url: str | None = PydanticField(
        description="The share's tracking link, set once it is published; a rejected share has none."
    )
    potential_reach: int
    personal_touch: float | None = PydanticField(
        default=None,
        ge=0,
        le=1,
        description="How much of the text is the employee's own rather than the caption they were offered: 0 the "
        "caption as it was, 1 none of its words kept (docs/content.md); null when no caption was offered.",
    )
    created_at: datetime
    updated_at: datetime


def _a_number(value: object) -> object:
    # A JSON number, as the schema says (5226.0 is one); not `false` read as 0 nor "5226" read as a number.
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number")
    return value


class ConnectionCreate(BaseModel):
    network: SupportedNetwork = PydanticField(description="One of the supported networks (case is ignored).")
    handle: Annotated[str, SingleLine] = PydanticField(min_length=1, max_length=200)
    audience_size: Annotated[int, BeforeValidator(_a_number)] = PydanticField(
        ge=0, le=1_000_000_000, description="Followers or connections."
    )


class ConnectionPublic(BaseModel):
    id: uuid.UUID
    network: Network
    handle: str
    audience_size: int
    created_at: datetime

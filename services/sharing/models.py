"""Shares, the employee's social connections, and the catalog of shareable content."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from condividi.validation import SingleLine, StoredText
from services.sharing.networks import SUPPORTED_NETWORKS


class ShareStatus(StrEnum):
    PENDING_POLICY = "pending_policy"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"
    # Ready on the network: posted through its API, or an intent link handed to the employee.
    PUBLISHED = "published"


class PublishMethod(StrEnum):
    INTENT = "intent"
    API = "api"


class CatalogItem(SQLModel, table=True):
    """This service's copy of each published content item, kept from ``ContentPublished`` events."""

    __tablename__ = "content_catalog"

    content_id: uuid.UUID = Field(primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    title: str
    url: str
    published_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


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
    __table_args__ = (sa.Index("shares_by_member", "org_id", "member_id", "created_at", "id"),)

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


def _known_network(value: str) -> str:
    network = value.strip().lower()
    if network not in SUPPORTED_NETWORKS:
        raise ValueError(f"unsupported network; use one of: {', '.join(sorted(SUPPORTED_NETWORKS))}")
    return network


class ShareCreate(BaseModel):
    content_id: uuid.UUID
    network: str = PydanticField(max_length=32)
    text: Annotated[str, StoredText] = PydanticField(
        default="", max_length=70_000, description="The employee's own words; the link is added by the network."
    )

    @field_validator("network")
    @classmethod
    def _network_is_supported(cls, value: str) -> str:
        return _known_network(value)


class Violation(BaseModel):
    code: str
    message: str


class SharePublic(BaseModel):
    id: uuid.UUID
    content_id: uuid.UUID
    member_id: str
    network: str
    text: str
    status: ShareStatus
    violations: list[Violation]
    publish_method: PublishMethod | None
    intent_url: str | None
    # When false, the network ignores pre-filled text: the client should offer "copy text" first.
    intent_keeps_text: bool
    tracking_url: str
    potential_reach: int
    created_at: datetime
    updated_at: datetime


class ConnectionCreate(BaseModel):
    network: str = PydanticField(max_length=32)
    handle: Annotated[str, SingleLine] = PydanticField(min_length=1, max_length=200)
    audience_size: int = PydanticField(ge=0, le=1_000_000_000, description="Followers or connections.")

    @field_validator("network")
    @classmethod
    def _network_is_supported(cls, value: str) -> str:
        return _known_network(value)


class ConnectionPublic(BaseModel):
    id: uuid.UUID
    network: str
    handle: str
    audience_size: int
    created_at: datetime

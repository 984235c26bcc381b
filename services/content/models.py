"""Content items: what curators publish for employees to share."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import AnyHttpUrl, BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from condividi.validation import SingleLine, StoredText

MAX_URL_LENGTH = 2048
# What the schema says of ``url`` (pydantic's AnyHttpUrl checks it): an http or https URL with a host.
HTTP_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"


class ContentStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_items"
    __table_args__ = (sa.Index("content_items_feed", "org_id", "status", "published_at", "id"),)

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

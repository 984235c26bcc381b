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
    title: Annotated[str, SingleLine] = PydanticField(min_length=1, max_length=300)
    url: AnyHttpUrl = PydanticField(description="The page employees share (http or https).")
    summary: Annotated[str, StoredText] = PydanticField(default="", max_length=2000)
    suggested_caption: Annotated[str, StoredText] = PydanticField(
        default="", max_length=3000, description="A starting point; employees are asked to write their own."
    )

    @field_validator("url")
    @classmethod
    def _not_too_long(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(value)) > 2048:
            raise ValueError("the URL is longer than 2048 characters")
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

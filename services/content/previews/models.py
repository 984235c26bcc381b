"""Link previews: one row per item and URL (an item whose link changes gets a new row; the old one
stays, as earlier shares of it do), fetched by the worker (services/content/previews/worker.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.content.previews.doctor import Severity


class PreviewStatus(StrEnum):
    PENDING = "pending"  # waiting for the worker (again, after a refresh or a passing failure)
    READY = "ready"  # fetched: the page answered (whatever its status); the findings say what is wrong
    FAILED = "failed"  # the page could not be fetched, or was refused (the findings say why)


def _when(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable))


class LinkPreview(SQLModel, table=True):
    __tablename__ = "link_previews"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "url", name="link_previews_item_url"),
        sa.Index("link_previews_queue", "status", "lease_until"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    item_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid(), sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False)
    )
    url: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    status: PreviewStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # Each request (creation, link change, refresh) bumps it: a fetch begun before writes nothing.
    generation: int = 0
    attempts: int = 0
    requested_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # A worker holds the row until then; past it (the worker died), another takes it again.
    lease_until: datetime | None = _when()
    fetched_at: datetime | None = _when()
    final_url: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    http_status: int | None = None
    redirects: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'"))
    )
    title: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    image_url: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    image_width: int | None = None
    image_height: int | None = None
    canonical_url: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    site_name: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    robots: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    findings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'"))
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))


class RedirectHop(BaseModel):
    url: str
    status: int


class PreviewFinding(BaseModel):
    severity: Severity
    code: str
    message: str


class LinkPreviewPublic(BaseModel):
    item_id: uuid.UUID
    url: str
    status: PreviewStatus
    requested_at: datetime
    fetched_at: datetime | None
    final_url: str | None
    http_status: int | None
    redirects: list[RedirectHop]
    title: str | None
    description: str | None
    image_url: str | None
    image_width: int | None
    image_height: int | None
    canonical_url: str | None
    site_name: str | None
    robots: str | None
    findings: list[PreviewFinding]
    error: str | None


MAX_BATCH_IDS = 100


class LinkPreviewBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[uuid.UUID] = PydanticField(max_length=MAX_BATCH_IDS)


class LinkPreviewBatch(BaseModel):
    # In the order asked for; items the caller cannot see, and items without a preview, are left out.
    items: list[LinkPreviewPublic]

"""The records and API shapes of the audit log, its retention period, and the near-duplicate guard
(issue 8, items 9, 13 and 14). Kept apart from ``models.py`` so the compliance rules can grow there."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictFloat
from pydantic import Field as PydanticField
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

# Seven years: what regulated firms commonly keep communications for (MiFID II asks five, up to seven on
# request). The migration's trigger holds the same figure for orgs that never set one.
DEFAULT_RETENTION_DAYS = 2557
MIN_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 36500

# --- records ---------------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One link of an org's chain. Written once; the database refuses UPDATE and DELETE (a trigger)
    except the retention prune's DELETE of entries past the org's retention period."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "seq", name="audit_entries_org_seq"),
        sa.Index("audit_entries_page", "org_id", "recorded_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    org_id: uuid.UUID
    # 1, 2, 3... per org, without gaps: a missing number is a deleted entry.
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    subject_id: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    payload: dict[str, Any] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditHead(SQLModel, table=True):
    """Where an org's chain ends (so a deleted last entry shows) and where it starts after a prune. Its
    row is the lock every append takes, so two appends cannot both follow the same entry."""

    __tablename__ = "audit_heads"

    org_id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    pruned_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    pruned_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditRetention(SQLModel, table=True):
    __tablename__ = "audit_retention"

    org_id: uuid.UUID = Field(primary_key=True)
    retention_days: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    updated_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class NearDuplicateSettingsRecord(SQLModel, table=True):
    __tablename__ = "near_duplicate_settings"

    org_id: uuid.UUID = Field(primary_key=True)
    enabled: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    threshold: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
    window_days: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    updated_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class NearDuplicatePost(SQLModel, table=True):
    """An approved post's MinHash signature, kept for the org's window."""

    __tablename__ = "near_duplicate_posts"
    __table_args__ = (sa.Index("near_duplicate_posts_age", "org_id", "posted_at"),)

    share_id: uuid.UUID = Field(primary_key=True)
    org_id: uuid.UUID
    network: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    member_id: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    posted_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class NearDuplicateBand(SQLModel, table=True):
    """One LSH band of a remembered post: posts with an equal bucket are candidates. ``bucket`` hashes
    the org, the network, the band's number and its values (near_duplicates.buckets)."""

    __tablename__ = "near_duplicate_bands"
    __table_args__ = (
        sa.Index(
            "near_duplicate_bands_lookup",
            "bucket",
            sa.text("posted_at DESC"),
            postgresql_include=["member_key", "share_id"],
        ),
        sa.Index("near_duplicate_bands_share", "share_id"),
    )
    # The table has no primary key; the mapping declares one because SQLAlchemy needs it to map a class.

    bucket: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, primary_key=True))
    posted_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    member_key: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    share_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False, primary_key=True))


# --- API shapes ------------------------------------------------------------------------------------


def _a_number(value: Any) -> Any:
    # JSON Schema counts 30.0 as an integer, so it is taken; a string or a boolean is not a number.
    if isinstance(value, str | bool):
        raise ValueError("Input should be a valid integer")
    return value


WholeNumber = Annotated[int, BeforeValidator(_a_number)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DuplicateAction(StrEnum):
    REJECT = "reject"
    REVIEW = "review"
    WARN = "warn"


class NearDuplicateSettingsUpdate(_Strict):
    enabled: StrictBool = PydanticField(default=True, description="Off: posts are still remembered, never flagged.")
    threshold: StrictFloat = PydanticField(
        default=0.8,
        ge=0.6,
        le=1.0,
        description="How alike two posts must be (estimated Jaccard similarity of their 4-character "
        "shingles, 0.6 to 1) to be near-duplicates.",
    )
    window_days: WholeNumber = PydanticField(
        default=30, ge=1, le=90, description="How far back colleagues' posts count, in days (1 to 90)."
    )
    action: DuplicateAction = PydanticField(
        default=DuplicateAction.WARN,
        description="reject: the share is refused; review: it waits for a reviewer; warn: it goes out, "
        "with the finding recorded and shown.",
    )


class NearDuplicateSettingsPublic(NearDuplicateSettingsUpdate):
    model_config = ConfigDict(extra="ignore")
    updated_by: str | None = PydanticField(description="Null while the org uses the defaults.")
    updated_at: datetime | None


class RetentionUpdate(_Strict):
    retention_days: WholeNumber = PydanticField(
        ge=MIN_RETENTION_DAYS,
        le=MAX_RETENTION_DAYS,
        description=f"How long audit entries are kept, in days ({MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}); "
        "nothing younger is ever deleted.",
    )


class RetentionPublic(BaseModel):
    retention_days: int
    updated_by: str | None = PydanticField(description="Null while the org uses the default.")
    updated_at: datetime | None


class AuditEntryPublic(BaseModel):
    id: uuid.UUID
    seq: int
    kind: str = PydanticField(description='What happened: "share.decided", "policy.published", ...')
    subject_id: str = PydanticField(description="The share, policy version or rule it concerns.")
    actor: str = PydanticField(description='Who: a member\'s subject, or "policy" for an automatic decision.')
    payload: dict[str, Any]
    recorded_at: datetime
    prev_hash: str
    hash: str


class ChainBreak(BaseModel):
    seq: int = PydanticField(description="The first entry that does not verify (or is missing).")
    reason: str


class AuditVerification(BaseModel):
    ok: bool
    entries_checked: int
    first_seq: int = PydanticField(description="The first entry still kept (after retention prunes), 0 if none.")
    head_seq: int = PydanticField(description="The last entry the chain's head names.")
    head_hash: str
    first_break: ChainBreak | None

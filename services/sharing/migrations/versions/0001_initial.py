"""Shares, social connections, the content catalog, and the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from condividi.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "content_catalog",
        sa.Column("content_id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False, index=True),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("url", sa.String, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "social_connections",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False, index=True),
        sa.Column("member_id", sa.String, nullable=False),
        sa.Column("network", sa.String, nullable=False),
        sa.Column("handle", sa.String, nullable=False),
        sa.Column("audience_size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "member_id", "network"),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("member_id", sa.String, nullable=False),
        sa.Column("content_id", sa.Uuid, nullable=False),
        sa.Column("network", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("violations", JSONB, nullable=False),
        sa.Column("publish_method", sa.String(16)),
        sa.Column("intent_url", sa.String),
        sa.Column("tracking_code", sa.String(32), nullable=False, unique=True),
        sa.Column("potential_reach", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("shares_by_member", "shares", ["org_id", "member_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("shares")
    op.drop_table("social_connections")
    op.drop_table("content_catalog")
    drop_messaging_tables()

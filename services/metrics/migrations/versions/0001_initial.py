"""Content rollups, share facts, unique visits, and the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from condividi.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "content_rollups",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("content_id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.String, nullable=False, server_default=""),
        sa.Column("shares", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clicks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unique_clicks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("potential_reach", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "share_facts",
        sa.Column("share_id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("content_id", sa.Uuid, nullable=False),
        sa.Column("member_id", sa.String, nullable=False),
        sa.Column("network", sa.String, nullable=False),
        sa.Column("potential_reach", sa.BigInteger, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "unique_visits",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("tracking_code", sa.String, primary_key=True),
        sa.Column("visitor_hash", sa.String, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("unique_visits")
    op.drop_table("share_facts")
    op.drop_table("content_rollups")
    drop_messaging_tables()

"""Captions per network and language, employee suggestions, and the suggester an item credits.

Revision ID: 0006_captions_suggestions
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_captions_suggestions"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("content_items", sa.Column("suggested_by", sa.String(255)))
    op.create_table(
        "content_captions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("updated_by", sa.String, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # Also the index the batched read of a page of items uses (content_id leads).
        sa.UniqueConstraint("content_id", "network", "language", name="content_captions_one_per_pair"),
    )
    op.create_table(
        "content_suggestions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("url", sa.String, nullable=False),
        sa.Column("url_key", sa.String, nullable=False),
        sa.Column("note", sa.String, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suggested_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decline_reason", sa.String, nullable=False),
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("content_items.id", ondelete="SET NULL")),
    )
    op.create_index("content_suggestions_queue", "content_suggestions", ["org_id", "status", "created_at", "id"])
    op.create_index(
        "content_suggestions_by_member", "content_suggestions", ["org_id", "suggested_by", "created_at", "id"]
    )
    op.create_index(
        "content_suggestions_pending_url",
        "content_suggestions",
        ["org_id", "url_key"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("content_suggestions")
    op.drop_table("content_captions")
    op.drop_column("content_items", "suggested_by")

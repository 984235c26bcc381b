"""The library's data model: an item's lifecycle, schedule, expiry, pins, topics, image, campaign and
audience; campaigns with their goal, dates, UTM name, disclosure, certification, priority and audience.

One row per item whatever the audience's size: targeting is applied when the feed is read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EMPTY_ARRAY = sa.text("'{}'")


def _audience_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("target_team_ids", postgresql.ARRAY(sa.Uuid), nullable=False, server_default=EMPTY_ARRAY),
        sa.Column("target_locations", postgresql.ARRAY(sa.String), nullable=False, server_default=EMPTY_ARRAY),
        sa.Column("target_languages", postgresql.ARRAY(sa.String), nullable=False, server_default=EMPTY_ARRAY),
        sa.Column("target_roles", postgresql.ARRAY(sa.String), nullable=False, server_default=EMPTY_ARRAY),
    ]


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("goal", sa.String, nullable=False, server_default=""),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("utm_campaign", sa.String(100), nullable=False),
        sa.Column("required_disclosure", sa.String(280), nullable=False, server_default=""),
        sa.Column("required_certification_id", sa.Uuid),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_audience_columns(),
    )
    op.create_index("campaigns_by_org_name", "campaigns", ["org_id", "name"], unique=True)

    op.add_column("content_items", sa.Column("publish_at", sa.DateTime(timezone=True)))
    op.add_column("content_items", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("content_items", sa.Column("archived_at", sa.DateTime(timezone=True)))
    op.add_column("content_items", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE content_items SET updated_at = coalesce(published_at, created_at)")
    op.alter_column("content_items", "updated_at", nullable=False)
    op.add_column("content_items", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE content_items SET revision = 1 WHERE status = 'published'")
    op.add_column(
        "content_items",
        sa.Column("topics", postgresql.ARRAY(sa.String), nullable=False, server_default=EMPTY_ARRAY),
    )
    op.add_column("content_items", sa.Column("image_url", sa.String))
    op.add_column("content_items", sa.Column("image_alt", sa.String, nullable=False, server_default=""))
    op.add_column("content_items", sa.Column("pinned_position", sa.Integer))
    op.add_column("content_items", sa.Column("pinned_until", sa.DateTime(timezone=True)))
    op.add_column("content_items", sa.Column("campaign_id", sa.Uuid, sa.ForeignKey("campaigns.id")))
    for column in _audience_columns():
        op.add_column("content_items", column)


def downgrade() -> None:
    for name in ("target_roles", "target_languages", "target_locations", "target_team_ids"):
        op.drop_column("content_items", name)
    for name in (
        "campaign_id",
        "pinned_until",
        "pinned_position",
        "image_alt",
        "image_url",
        "topics",
        "revision",
        "updated_at",
        "archived_at",
        "expires_at",
        "publish_at",
    ):
        op.drop_column("content_items", name)
    op.drop_table("campaigns")

"""The library's side of sharing: the catalog keeps each item's latest revision, its expiry, whether it
was withdrawn, its campaign, disclosure and UTM name; each share keeps what it shared (revision, link
destination, UTM name, campaign and disclosure).

Revision ID: 0004_catalog_library
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_catalog_library"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("content_catalog", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.add_column("content_catalog", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("content_catalog", sa.Column("withdrawn_at", sa.DateTime(timezone=True)))
    op.add_column("content_catalog", sa.Column("withdrawn_reason", sa.String(16)))
    op.add_column("content_catalog", sa.Column("campaign_id", sa.Uuid))
    op.add_column(
        "content_catalog", sa.Column("required_disclosure", sa.String(280), nullable=False, server_default="")
    )
    op.add_column("content_catalog", sa.Column("utm_campaign", sa.String(100), nullable=False, server_default=""))
    op.add_column("shares", sa.Column("content_revision", sa.Integer))
    op.add_column("shares", sa.Column("destination_url", sa.String))
    op.add_column("shares", sa.Column("utm_campaign", sa.String(100)))
    op.add_column("shares", sa.Column("campaign_id", sa.Uuid))
    op.add_column("shares", sa.Column("required_disclosure", sa.String(280), nullable=False, server_default=""))


def downgrade() -> None:
    for name in ("required_disclosure", "campaign_id", "utm_campaign", "destination_url", "content_revision"):
        op.drop_column("shares", name)
    for name in (
        "utm_campaign",
        "required_disclosure",
        "campaign_id",
        "withdrawn_reason",
        "withdrawn_at",
        "expires_at",
        "revision",
    ):
        op.drop_column("content_catalog", name)

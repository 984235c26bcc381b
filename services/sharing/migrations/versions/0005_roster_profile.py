"""Whom each catalog item is for (its own audience and its campaign's, from ``ContentPublished``) and the
roster copy's teams, location and language, so a share of an item that does not reach its author is
refused (condividi/audience.py).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from condividi.roster_copy import add_profile_columns, drop_profile_columns

revision = "0005"
down_revision = "0004_catalog_library"
branch_labels = None
depends_on = None

AUDIENCE_COLUMNS = {
    "target_team_ids": sa.Uuid,
    "target_locations": sa.String,
    "target_languages": sa.String,
    "target_roles": sa.String,
    "campaign_target_team_ids": sa.Uuid,
    "campaign_target_locations": sa.String,
    "campaign_target_languages": sa.String,
    "campaign_target_roles": sa.String,
}


def upgrade() -> None:
    add_profile_columns()
    for name, item_type in AUDIENCE_COLUMNS.items():
        op.add_column(
            "content_catalog",
            sa.Column(name, postgresql.ARRAY(item_type), nullable=False, server_default=sa.text("'{}'")),
        )


def downgrade() -> None:
    for name in AUDIENCE_COLUMNS:
        op.drop_column("content_catalog", name)
    drop_profile_columns()

"""A policy version can ask the members at some locations to accept it, besides those of some teams.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions published before targeted no location: an empty list keeps their target as it was.
    op.add_column(
        "policy_versions",
        sa.Column("target_locations", postgresql.ARRAY(sa.String(200)), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_column("policy_versions", "target_locations")

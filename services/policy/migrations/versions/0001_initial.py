"""Share decisions, the roster (teams and members), and the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from condividi.messaging_tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "share_decisions",
        sa.Column("share_id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False, index=True),
        sa.Column("member_id", sa.String, nullable=False),
        sa.Column("network", sa.String, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("violations", postgresql.JSONB, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "name", name="teams_org_name"),
        # Lets members reference (org_id, id), so a member can only belong to a team of its own org.
        sa.UniqueConstraint("org_id", "id", name="teams_org_id"),
    )
    op.create_index("teams_page", "teams", ["org_id", "created_at", "id"])
    op.create_table(
        "members",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("team_id", sa.Uuid),
        sa.Column("roles", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "subject", name="members_org_subject"),
        sa.ForeignKeyConstraint(["org_id", "team_id"], ["teams.org_id", "teams.id"], name="members_team"),
    )
    op.create_index("members_page", "members", ["org_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("members")
    op.drop_table("teams")
    op.drop_table("share_decisions")
    drop_messaging_tables()

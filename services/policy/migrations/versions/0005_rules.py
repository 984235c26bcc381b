"""The compliance rules admins configure, and every finding of a share's decision with its action and span.

Revision ID: 0005_rules
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_rules"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_rules",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("network", sa.String(32)),
        sa.Column("campaign_id", sa.Uuid),
        sa.Column("team_id", sa.Uuid),
        sa.Column("config", postgresql.JSONB, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("compliance_rules_page", "compliance_rules", ["org_id", "created_at", "id"])
    # Decisions taken before held only their blocking reasons, in ``violations``.
    op.add_column(
        "share_decisions",
        sa.Column("findings", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    # Caps count a member's recent shares that policy let through.
    op.create_index("share_decisions_member_recent", "share_decisions", ["org_id", "member_id", "decided_at"])


def downgrade() -> None:
    op.drop_index("share_decisions_member_recent", table_name="share_decisions")
    op.drop_column("share_decisions", "findings")
    op.drop_index("compliance_rules_page", table_name="compliance_rules")
    op.drop_table("compliance_rules")

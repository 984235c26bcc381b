"""Versioned policies and their acknowledgements; training modules, quiz attempts and certifications.

Revision ID: 0003
Revises: 0002 (the roster first, then policies and training)
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requires_acknowledgement", sa.Boolean, nullable=False),
        sa.Column("target_team_ids", postgresql.ARRAY(sa.Uuid), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("org_id", "version", name="policy_versions_org_version"),
    )
    op.create_index("policy_versions_page", "policy_versions", ["org_id", "created_at", "id"])
    op.create_table(
        "policy_acknowledgements",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column(
            "policy_version_id", sa.Uuid, sa.ForeignKey("policy_versions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("member_subject", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "policy_version_id", "member_subject", name="policy_acknowledgements_once"),
    )
    op.create_index("policy_acknowledgements_member", "policy_acknowledgements", ["org_id", "member_subject"])
    op.create_table(
        "training_modules",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("lessons", postgresql.JSONB, nullable=False),
        sa.Column("questions", postgresql.JSONB, nullable=False),
        sa.Column("pass_mark", sa.Integer, nullable=False),
        sa.Column("certification_valid_days", sa.Integer),
        sa.Column("required_for_networks", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("training_modules_page", "training_modules", ["org_id", "created_at", "id"])
    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("module_id", sa.Uuid, sa.ForeignKey("training_modules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("member_subject", sa.String(255), nullable=False),
        sa.Column("answers", postgresql.JSONB, nullable=False),
        sa.Column("correct", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("quiz_attempts_member", "quiz_attempts", ["org_id", "member_subject", "module_id"])
    op.create_table(
        "certifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("module_id", sa.Uuid, sa.ForeignKey("training_modules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("member_subject", sa.String(255), nullable=False),
        sa.Column("attempt_id", sa.Uuid, nullable=False),
        sa.Column("certified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("org_id", "module_id", "member_subject", name="certifications_once"),
    )
    op.create_index("certifications_member", "certifications", ["org_id", "member_subject"])


def downgrade() -> None:
    op.drop_table("certifications")
    op.drop_table("quiz_attempts")
    op.drop_table("training_modules")
    op.drop_table("policy_acknowledgements")
    op.drop_table("policy_versions")

"""The roster from the identity provider: member attributes, SCIM groups, provisioning tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("external_id", sa.String(255)))
    op.add_column("members", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("members", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("members", sa.Column("team_ids", postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"))
    # Members created before this revision keep their one team in the new list too.
    op.execute("UPDATE members SET team_ids = ARRAY[team_id] WHERE team_id IS NOT NULL")
    for column, length in (
        ("given_name", 200),
        ("family_name", 200),
        ("location", 200),
        ("language", 64),
        ("time_zone", 64),
        ("department", 200),
        ("title", 200),
        ("employee_number", 64),
    ):
        op.add_column("members", sa.Column(column, sa.String(length)))
    op.add_column("members", sa.Column("manager_id", sa.Uuid))
    op.add_column("members", sa.Column("source", sa.String(8), nullable=False, server_default="api"))
    op.add_column("members", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("members", sa.Column("updated_at", sa.DateTime(timezone=True)))
    # SCIM looks people up by userName (case-insensitively), externalId and email.
    op.create_index("members_org_subject_ci", "members", ["org_id", sa.text("lower(subject)")])
    op.create_index("members_org_external_id", "members", ["org_id", "external_id"])
    op.create_index("members_org_email_ci", "members", ["org_id", sa.text("lower(email)")])

    op.create_table(
        "scim_groups",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False, index=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("team_id", sa.Uuid),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "display_name", name="scim_groups_org_name"),
    )
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.Uuid, sa.ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("member_id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
    )
    op.create_index("scim_group_members_member", "scim_group_members", ["member_id"])
    op.create_table(
        "provisioning_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False, index=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("provisioning_tokens")
    op.drop_table("scim_group_members")
    op.drop_table("scim_groups")
    op.drop_index("members_org_email_ci", "members")
    op.drop_index("members_org_external_id", "members")
    op.drop_index("members_org_subject_ci", "members")
    for column in (
        "updated_at",
        "version",
        "source",
        "manager_id",
        "employee_number",
        "title",
        "department",
        "time_zone",
        "language",
        "location",
        "family_name",
        "given_name",
        "team_ids",
        "deleted_at",
        "active",
        "external_id",
    ):
        op.drop_column("members", column)

"""The personal-touch score of a share, and the captions it is compared with in the catalog.

Revision ID: 0006_personal_touch
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_personal_touch"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("content_catalog", sa.Column("suggested_caption", sa.String, nullable=False, server_default=""))
    op.add_column(
        "content_catalog", sa.Column("captions", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    op.add_column("shares", sa.Column("personal_touch", sa.Float))


def downgrade() -> None:
    op.drop_column("shares", "personal_touch")
    op.drop_column("content_catalog", "captions")
    op.drop_column("content_catalog", "suggested_caption")

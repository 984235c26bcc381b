"""Link previews: what an item's link shows when it is posted, and what the doctor found wrong with it.
Existing items get a pending preview, which the worker fetches.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006_captions_suggestions"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    op.create_table(
        "link_previews",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("redirects", postgresql.JSONB(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=True),
        sa.Column("image_height", sa.Integer(), nullable=True),
        sa.Column("canonical_url", sa.Text(), nullable=True),
        sa.Column("site_name", sa.Text(), nullable=True),
        sa.Column("robots", sa.Text(), nullable=True),
        sa.Column("findings", postgresql.JSONB(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("item_id", "url", name="link_previews_item_url"),
    )
    op.create_index("link_previews_queue", "link_previews", ["status", "lease_until"])
    op.execute(
        "INSERT INTO link_previews (id, org_id, item_id, url, status, generation, attempts, requested_at) "
        "SELECT gen_random_uuid(), org_id, id, url, 'pending', 0, 0, now() FROM content_items"
    )


def downgrade() -> None:
    op.drop_table("link_previews")

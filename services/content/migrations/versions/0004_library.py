"""The library: each published revision kept (content_revisions), who published the live one, and the
indexes of the curators' list, its full-text search and topic filter, and the scheduler's looks.

Revision ID: 0004_library
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_library"
down_revision = "0003"
branch_labels = None
depends_on = None

# As services/content/models.py's SEARCH_DOCUMENT: the query must use the very same expression.
SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, "
    "(((title::text || ' '::text) || summary::text) || ' '::text) || suggested_caption::text)"
)


def upgrade() -> None:
    op.add_column("content_items", sa.Column("published_by", sa.String))
    op.execute("UPDATE content_items SET published_by = created_by WHERE status = 'published'")
    op.create_table(
        "content_revisions",
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("url", sa.String, nullable=False),
        sa.Column("summary", sa.String, nullable=False),
        sa.Column("suggested_caption", sa.String, nullable=False),
        sa.Column("topics", postgresql.ARRAY(sa.String), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("image_url", sa.String),
        sa.Column("image_alt", sa.String, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("published_by", sa.String, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The items published before revisions were kept: their revision 1, as it is now.
    op.execute(
        "INSERT INTO content_revisions (content_id, revision, org_id, title, url, summary, suggested_caption, "
        "topics, image_url, image_alt, expires_at, published_by, published_at) "
        "SELECT id, revision, org_id, title, url, summary, suggested_caption, topics, image_url, image_alt, "
        "expires_at, created_by, published_at FROM content_items WHERE status = 'published'"
    )
    op.create_index("content_items_library", "content_items", ["org_id", "created_at", "id"])
    op.create_index(
        "content_items_due", "content_items", ["publish_at"], postgresql_where=sa.text("status = 'scheduled'")
    )
    op.create_index(
        "content_items_expiring",
        "content_items",
        ["expires_at"],
        postgresql_where=sa.text("status = 'published' AND expires_at IS NOT NULL"),
    )
    op.create_index("content_items_topics", "content_items", ["topics"], postgresql_using="gin")
    op.create_index("content_items_search", "content_items", [sa.text(SEARCH_DOCUMENT)], postgresql_using="gin")


def downgrade() -> None:
    for name in (
        "content_items_search",
        "content_items_topics",
        "content_items_expiring",
        "content_items_due",
        "content_items_library",
    ):
        op.drop_index(name, table_name="content_items")
    op.drop_table("content_revisions")
    op.drop_column("content_items", "published_by")

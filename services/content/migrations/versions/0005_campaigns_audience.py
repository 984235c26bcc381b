"""Campaigns, audiences and the ranked feed: what the feed's one query reads.

- the roster copy's teams, location and language (condividi/roster_copy.py), matched by audiences;
- ``teams_copy``: the org's teams from policy's ``TeamChanged``, so targeting refuses unknown team ids;
- ``member_shares``: which items each member shared (sharing's ``SharePublished``), which sink in the feed;
- ``content_items.feed_priority``: the campaign's priority copied onto its items by triggers, so one index
  holds the live items in the feed's order and a page reads a few rows of it, not every live item.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from condividi.roster_copy import add_profile_columns, drop_profile_columns

revision = "0005"
down_revision = "0004_library"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_profile_columns()
    op.create_table(
        "teams_copy",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "member_shares",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("content_id", sa.Uuid, primary_key=True),
        sa.Column("shared_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("content_items", sa.Column("feed_priority", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE content_items i SET feed_priority = c.priority FROM campaigns c WHERE c.id = i.campaign_id")
    # Whoever sets an item's campaign (the library's create and edit, the campaign's add and remove), and
    # whenever a campaign's priority changes, the items' copy follows in the same transaction.
    op.execute(
        """
        CREATE FUNCTION content_items_feed_priority() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.feed_priority := coalesce((SELECT priority FROM campaigns WHERE id = NEW.campaign_id), 0);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER content_items_feed_priority BEFORE INSERT OR UPDATE OF campaign_id ON content_items "
        "FOR EACH ROW EXECUTE FUNCTION content_items_feed_priority()"
    )
    op.execute(
        """
        CREATE FUNCTION campaigns_feed_priority() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE content_items SET feed_priority = NEW.priority WHERE campaign_id = NEW.id;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER campaigns_feed_priority AFTER UPDATE OF priority ON campaigns FOR EACH ROW "
        "WHEN (OLD.priority IS DISTINCT FROM NEW.priority) EXECUTE FUNCTION campaigns_feed_priority()"
    )
    # The feed's order (after the pins, which are few): one index walk, stopped after a page.
    op.execute(
        "CREATE INDEX content_items_ranked ON content_items "
        "(org_id, feed_priority DESC, published_at DESC, id DESC) WHERE status = 'published'"
    )
    op.execute(
        "CREATE INDEX content_items_pinned ON content_items (org_id, pinned_position) "
        "WHERE status = 'published' AND pinned_position IS NOT NULL"
    )
    op.create_index("content_items_by_campaign", "content_items", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("content_items_by_campaign", "content_items")
    op.execute("DROP INDEX content_items_pinned")
    op.execute("DROP INDEX content_items_ranked")
    op.execute("DROP TRIGGER campaigns_feed_priority ON campaigns")
    op.execute("DROP FUNCTION campaigns_feed_priority()")
    op.execute("DROP TRIGGER content_items_feed_priority ON content_items")
    op.execute("DROP FUNCTION content_items_feed_priority()")
    op.drop_column("content_items", "feed_priority")
    op.drop_table("member_shares")
    op.drop_table("teams_copy")
    drop_profile_columns()

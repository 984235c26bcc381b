"""Idempotency keys of share requests, and an index to find a member's earlier shares of a post.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shares", sa.Column("idempotency_key", sa.String(255)))
    op.add_column("shares", sa.Column("request_fingerprint", sa.String(64)))
    # The guarantee that two requests with one key make one share, however close together they come:
    # the second insert waits for the first and then fails. Rows without a key (NULL) never clash.
    op.create_unique_constraint("shares_idempotency_key", "shares", ["org_id", "member_id", "idempotency_key"])
    op.create_index("shares_by_post", "shares", ["org_id", "member_id", "content_id", "network"])


def downgrade() -> None:
    op.drop_index("shares_by_post", table_name="shares")
    op.drop_constraint("shares_idempotency_key", "shares", type_="unique")
    op.drop_column("shares", "request_fingerprint")
    op.drop_column("shares", "idempotency_key")

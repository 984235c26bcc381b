"""The inbox's blocks (``condividi/inbox_blocks.py``): a bit per click applied instead of a row.

The ids already in the per-event inbox are copied into the blocks, so a click applied before the
upgrade and read again after it (a batch not yet committed to Kafka when the old process stopped) is
still recognised.

Revision ID: 0004_fold
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from condividi.inbox_blocks import Key, claim_in, columns, to_bits

revision = "0004_fold"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_blocks",
        sa.Column("consumer_group", sa.String, primary_key=True),
        sa.Column("prefix", sa.BigInteger, primary_key=True),
        sa.Column("block", sa.BigInteger, primary_key=True),
        sa.Column("bits", sa.LargeBinary, nullable=False),
    )
    connection = op.get_bind()
    groups = [g for (g,) in connection.execute(sa.text("SELECT DISTINCT consumer_group FROM inbox"))]
    for group in groups:
        blocks: dict[Key, bytearray] = {}
        after = None
        while True:
            # In pages along the primary key: the inbox can hold millions of ids.
            page = [
                event_id
                for (event_id,) in connection.execute(
                    sa.text(
                        "SELECT event_id FROM inbox WHERE consumer_group = :group "
                        "AND (CAST(:after AS uuid) IS NULL OR event_id > CAST(:after AS uuid)) "
                        "ORDER BY event_id LIMIT 50000"
                    ),
                    {"group": group, "after": after},
                )
            ]
            if not page:
                break
            claim_in(blocks, [event_id.int for event_id in page])
            after = str(page[-1])
        if blocks:
            connection.execute(
                sa.text(
                    "INSERT INTO inbox_blocks (consumer_group, prefix, block, bits) "
                    "VALUES (:group, :prefix, :block, :bits)"
                ),
                [
                    {"group": group, "prefix": prefix, "block": block, "bits": to_bits(bits)}
                    for (prefix, block), bits in ((columns(key), bits) for key, bits in blocks.items())
                ],
            )


def downgrade() -> None:
    op.drop_table("inbox_blocks")

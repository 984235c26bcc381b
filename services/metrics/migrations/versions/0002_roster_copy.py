"""The service's own copy of the roster (roles and active flag per member), kept from policy's events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from condividi.roster_copy import create_roster_copy_table, drop_roster_copy_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_roster_copy_table()


def downgrade() -> None:
    drop_roster_copy_table()

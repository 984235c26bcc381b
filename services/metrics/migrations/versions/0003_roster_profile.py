"""The roster copy's teams, location and language (condividi/roster_copy.py), which audiences match on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from condividi.roster_copy import add_profile_columns, drop_profile_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_profile_columns()


def downgrade() -> None:
    drop_profile_columns()

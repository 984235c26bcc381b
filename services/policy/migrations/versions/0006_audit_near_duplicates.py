"""The audit log (append-only, hash-chained per org), its retention period, and the near-duplicate
memory (MinHash signatures and their LSH bands) with its per-org settings.

Revision ID: 0006_audit_near_duplicates
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_audit_near_duplicates"
down_revision = "0005_rules"
branch_labels = None
depends_on = None

# Kept in step with services/policy/audit_models.py DEFAULT_RETENTION_DAYS: the trigger must refuse a
# prune inside the period even for an org that never set one.
DEFAULT_RETENTION_DAYS = 2557

# The one guard the code cannot talk its way around: no UPDATE, no TRUNCATE, and a DELETE only from the
# retention prune (which sets condividi.audit_prune for its transaction) and only of an entry older than
# the org's retention period, judged by the database's own clock.
GUARD = f"""
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keep_days integer;
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('condividi.audit_prune', true) = 'on' THEN
        SELECT retention_days INTO keep_days FROM audit_retention WHERE org_id = OLD.org_id;
        IF OLD.recorded_at < now() - make_interval(days => COALESCE(keep_days, {DEFAULT_RETENTION_DAYS})) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit entry % of org % is inside its retention period', OLD.seq, OLD.org_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""
TRIGGERS = (
    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()",
    "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_guard()",
)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("org_id", "seq", name="audit_entries_org_seq"),
    )
    op.create_index("audit_entries_page", "audit_entries", ["org_id", "recorded_at", "id"])
    op.create_table(
        "audit_heads",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pruned_seq", sa.BigInteger, nullable=False),
        sa.Column("pruned_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_retention",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("retention_days", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(GUARD)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.create_table(
        "near_duplicate_settings",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "near_duplicate_posts",
        sa.Column("share_id", sa.Uuid, primary_key=True),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_index("near_duplicate_posts_age", "near_duplicate_posts", ["org_id", "posted_at"])
    op.create_table(
        "near_duplicate_bands",
        # A 64-bit hash of the org, the network, the band's number and its values: equal buckets are
        # candidates. The org and the network are in the hash rather than in columns, which keeps the
        # look-up's index small; the join to near_duplicate_posts checks both again.
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        # A 64-bit hash of the member's subject: the look-up skips the author's own posts without
        # repeating the subject in every band row.
        sa.Column("member_key", sa.BigInteger, nullable=False),
        sa.Column("share_id", sa.Uuid, nullable=False),
    )
    # The look-up: per bucket, the newest rows inside the window, read from the index alone.
    op.execute(
        "CREATE INDEX near_duplicate_bands_lookup ON near_duplicate_bands "
        "(bucket, posted_at DESC) INCLUDE (member_key, share_id)"
    )
    op.create_index("near_duplicate_bands_share", "near_duplicate_bands", ["share_id"])


def downgrade() -> None:
    op.drop_table("near_duplicate_bands")
    op.drop_table("near_duplicate_posts")
    op.drop_table("near_duplicate_settings")
    op.execute("DROP TABLE audit_entries")
    op.execute("DROP FUNCTION audit_entries_guard()")
    op.drop_table("audit_retention")
    op.drop_table("audit_heads")

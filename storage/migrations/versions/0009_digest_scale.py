"""digest scale: a covering index for the digest's reads of decisions

The digest joins a period's items (up to hundreds of thousands) with their decisions, for
who decided, from where, when, and why. Through the unique index on item_id each of those
decisions was then fetched from the table; this index holds every column the join reads,
so SQLite answers it from the index alone (the digest names it), and PostgreSQL can read
it instead of the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISION_DIGEST_COLUMNS = ["item_id", "source", "by", "at", "reason"]


def upgrade() -> None:
    # Plain CREATE INDEX (no batch mode): nothing here needs SQLite's table copy.
    op.create_index("ix_decision_digest", "decision", DECISION_DIGEST_COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_decision_digest", table_name="decision")

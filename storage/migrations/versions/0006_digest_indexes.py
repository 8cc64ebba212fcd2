"""digest indexes: one covering index for the digest's scans of a period

The digest reads every item of a period (and of the one before, and of the last 28 days)
for a handful of short columns. Through an index on (status, created_at) each of those
rows was then fetched from the table, whose rows carry the item's full output; this index
holds every column the digest's aggregates read, so they are answered from the index
alone. It starts with (status, created_at), so it replaces ix_review_item_status_created.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST_COLUMNS = [
    "status",
    "created_at",
    "route",
    "workflow",
    "id",
    "escalation_level",
    "decided_at",
    "first_deadline",
    "confidence",
]


def upgrade() -> None:
    # Plain CREATE/DROP INDEX (no batch mode): nothing here needs SQLite's table copy.
    op.create_index("ix_review_item_digest", "review_item", DIGEST_COLUMNS, unique=False)
    op.drop_index("ix_review_item_status_created", table_name="review_item")


def downgrade() -> None:
    op.create_index(
        "ix_review_item_status_created", "review_item", ["status", "created_at"], unique=False
    )
    op.drop_index("ix_review_item_digest", table_name="review_item")

"""working hours, groups and reminders (issue 13): reminder deadlines

Working hours change only how due times are computed (the calendar is frozen in each
item's route snapshot) and group members are recorded in the item's escalations and the
audit trail, so the one new table holds reminders, claimed and fired like escalation steps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("fired_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["review_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "level", "seq", name="uq_reminder_item_level_seq"),
    )
    op.create_index("ix_reminder_item_id", "reminder", ["item_id"], unique=False)
    op.create_index("ix_reminder_status_due", "reminder", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reminder_status_due", table_name="reminder")
    op.drop_index("ix_reminder_item_id", table_name="reminder")
    op.drop_table("reminder")

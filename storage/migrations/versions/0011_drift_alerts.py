"""drift alerts (issue 14): one row per episode, and an index for the hourly scan

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_alert",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("began_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("baseline_rate", sa.Float(), nullable=False),
        sa.Column("baseline_decided", sa.Integer(), nullable=False),
        sa.Column("recent_rate", sa.Float(), nullable=False),
        sa.Column("recent_decided", sa.Integer(), nullable=False),
        sa.Column("recent_events", sa.Integer(), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("evidence", storage.types.JsonColumn, nullable=False),
        sa.Column("examples", storage.types.JsonColumn, nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_drift_alert_open",
        "drift_alert",
        ["workflow", "metric"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_drift_alert_detected", "drift_alert", ["detected_at"], unique=False)
    op.create_index("ix_review_item_decided", "review_item", ["decided_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_review_item_decided", table_name="review_item")
    op.drop_index("ix_drift_alert_detected", table_name="drift_alert")
    op.drop_index("uq_drift_alert_open", table_name="drift_alert")
    op.drop_table("drift_alert")

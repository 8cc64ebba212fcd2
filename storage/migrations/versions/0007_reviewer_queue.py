"""reviewer queue: who is on an item, thread comments, who has opened the App Home

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: existing items are simply not taken.
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("taken_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("taken_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "item_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["review_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "ts", name="uq_item_comment_channel_ts"),
    )
    op.create_index("ix_item_comment_item_id", "item_comment", ["item_id"], unique=False)
    op.create_table(
        "home_viewer",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("opened_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("publish_due_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("page_offset", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("page_size", sa.Integer(), nullable=False, server_default="20"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    # Item messages are found by (channel, ts) when a thread reply arrives.
    op.create_index("ix_item_message_channel_ts", "item_message", ["channel", "ts"], unique=False)
    op.create_index(
        "ix_review_item_message", "review_item", ["channel", "message_ts"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_review_item_message", table_name="review_item")
    op.drop_index("ix_item_message_channel_ts", table_name="item_message")
    op.drop_table("home_viewer")
    op.drop_index("ix_item_comment_item_id", table_name="item_comment")
    op.drop_table("item_comment")
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.drop_column("taken_at")
        batch_op.drop_column("taken_by")

"""structured items: outputs as JSON (a string or a flat object), with the agent's schema

Issue 11. `output` and `final_output` become JSON columns (JSONB on PostgreSQL): every
existing text output becomes a JSON string with the same text, so text items read back
exactly as before. Two new nullable columns hold a structured item's schema and the order
of its fields as sent (JSONB keeps no key order).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("output_schema", "field_order")


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in ("output", "final_output"):
            # to_jsonb of a text is the JSON string of that text; NULL stays NULL.
            op.execute(
                f"ALTER TABLE review_item ALTER COLUMN {column} TYPE JSONB USING to_jsonb({column})"
            )
    else:
        # SQLite keeps the declared type; the values become JSON strings in place.
        op.execute("UPDATE review_item SET output = json_quote(output)")
        op.execute(
            "UPDATE review_item SET final_output = json_quote(final_output) "
            "WHERE final_output IS NOT NULL"
        )
    for column in NEW_COLUMNS:
        op.add_column("review_item", sa.Column(column, _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        for column in NEW_COLUMNS:
            batch.drop_column(column)
    if op.get_bind().dialect.name == "postgresql":
        for column in ("output", "final_output"):
            # A JSON string back to its text; a structured output stays its JSON text.
            op.execute(
                f"ALTER TABLE review_item ALTER COLUMN {column} TYPE TEXT USING "
                f"CASE WHEN jsonb_typeof({column}) = 'string' THEN {column} #>> '{{}}' "
                f"ELSE {column}::text END"
            )
    else:
        for column in ("output", "final_output"):
            op.execute(
                f"UPDATE review_item SET {column} = json_extract({column}, '$') "
                f"WHERE json_type({column}) = 'text'"
            )

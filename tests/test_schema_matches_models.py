"""The migrations build exactly the schema the models declare, on both backends: a model
change without its migration (or the reverse) fails here, not in a user's upgrade."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Text, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import Database
from storage.migrate import alembic_config, head_revision, migrate


def _real_difference(diff: Any, dialect: str) -> bool:
    # SQLite has no JSON type: a JSON column is TEXT there, whatever the model says.
    if dialect == "sqlite" and isinstance(diff, list) and diff and diff[0][0] == "modify_type":
        reflected, declared = diff[0][5], diff[0][6]
        return not (isinstance(reflected, Text) and isinstance(declared, JSON))
    return True


def test_a_migrated_database_has_exactly_the_models_tables_columns_and_indexes(
    database_url: str,
) -> None:
    database = Database(database_url)
    try:
        migrate(database)
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, SQLModel.metadata)
        dialect = database.engine.dialect.name
        assert [d for d in differences if _real_difference(d, dialect)] == []
    finally:
        database.dispose()


def test_the_quick_head_check_agrees_with_alembic() -> None:
    """`migrate` skips alembic when the database is at the head read from the files'
    text; that head must be the one alembic itself computes."""
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_database_one_revision_behind_is_still_upgraded(database_url: str) -> None:
    database = Database(database_url)
    try:
        head = head_revision()
        assert head is not None
        previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
        assert isinstance(previous, str)
        migrate(database, revision=previous)
        migrate(database)  # the quick check must see it is behind
        with database.engine.connect() as connection:
            stored = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [row[0] for row in stored] == [head]
    finally:
        database.dispose()

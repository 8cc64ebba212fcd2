"""Create or migrate the schema on start, safely from several replicas at once."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from storage.db import Database

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together wait for each other on it.
_PG_MIGRATION_LOCK = 0x6869746C


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(db: Database, revision: str = "head") -> None:
    config = alembic_config()
    with db.engine.connect() as connection:
        if db.is_postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        finally:
            if db.is_postgres:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
                connection.commit()


def upgrade(url: str) -> str:
    """Creates or upgrades the schema of the database at `url`; returns its revision.

    Raises DatabaseUnavailable with one line that says what went wrong."""
    db = Database(url)
    try:
        migrate(db)
        with db.engine.connect() as connection:
            return str(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            )
    except Exception as error:
        raise DatabaseUnavailable(describe_database_error(error)) from error
    finally:
        db.dispose()


class DatabaseUnavailable(Exception):
    """The database cannot be opened or upgraded; the message is one line."""


def describe_database_error(error: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's statement and background link."""
    cause = getattr(error, "orig", None) or error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if "unable to open database file" in first:
        first += " (does its folder exist, and may this user write there?)"
    return first

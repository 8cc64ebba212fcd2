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

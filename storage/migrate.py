"""Create or migrate the schema on start, safely from several replicas at once.

A database already at the newest revision, the usual case at every start and every
`hitl digest`, is recognised by comparing its stored revision with the newest one read
from the migration files' text: alembic, its environment and the migration scripts are
loaded only when there is something to do."""

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together wait for each other on it.
_PG_MIGRATION_LOCK = 0x6869746C
# The header lines every migration file has (see script.py.mako).
_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: str \| None)? = (?:"([^"]+)"|None)$', re.MULTILINE)


def alembic_config() -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision, from the migration files' text; None when the files are not
    one plain chain (a merge, a branch, a header written differently): alembic decides."""
    revisions: dict[str, str | None] = {}
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1 or revision[0] in revisions:
            return None
        revisions[revision[0]] = down[0] or None
    heads = set(revisions) - {down for down in revisions.values() if down is not None}
    roots = [revision for revision, down in revisions.items() if down is None]
    if len(heads) != 1 or len(roots) != 1:
        return None
    return heads.pop()


def _at_head(connection: Connection) -> bool:
    """Whether the database records exactly the newest revision (no table: a new database)."""
    head = head_revision()
    if head is None:
        return False
    try:
        stored = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        connection.rollback()  # PostgreSQL: the failed statement aborted the transaction
        return False
    connection.rollback()
    return [row[0] for row in stored] == [head]


def migrate(db: Database, revision: str = "head") -> None:
    with db.engine.connect() as connection:
        if revision == "head" and _at_head(connection):
            return
        # Loaded only here: alembic and its environment cost a few hundred ms.
        from alembic import command

        config = alembic_config()
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

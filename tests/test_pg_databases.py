"""The tests' reuse of migrated PostgreSQL databases: a database comes back empty, with
its sequences restarted, and one whose schema a test changed is never handed out again."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests.pg_databases import MigratedDatabases

pytestmark = pytest.mark.postgres


def _run(url: str, *statements: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(statement)) for statement in statements]
            return [result.scalar() if result.returns_rows else None for result in results]
    finally:
        engine.dispose()


def test_a_database_comes_back_empty_and_a_changed_one_is_dropped(
    pg_server: str, _pg_migrated: MigratedDatabases
) -> None:
    with ThreadPoolExecutor(2) as dropper:
        databases = MigratedDatabases(
            pg_server, _pg_migrated.template, _pg_migrated.fingerprint, dropper
        )
        url = databases.take()
        _run(url, "INSERT INTO worker (id, heartbeat_at, started_at) VALUES ('w1', now(), now())")
        held = create_engine(url).connect()  # a connection the test forgot
        held.execute(text("SELECT 1"))
        databases.give_back(url)
        assert databases.take() == url
        assert _run(url, "SELECT count(*) FROM worker") == [0]

        _run(url, "CREATE INDEX ix_extra ON worker (started_at)")
        databases.give_back(url)
        fresh = databases.take()
        assert fresh != url
        databases.give_back(fresh)
        databases.drop_all()
    names = _run(pg_server, "SELECT string_agg(datname, ',') FROM pg_database")
    assert url.rsplit("/", 1)[1] not in str(names) and fresh.rsplit("/", 1)[1] not in str(names)

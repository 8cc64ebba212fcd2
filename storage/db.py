"""Engine and sessions for SQLite and PostgreSQL.

SQLite is tuned for a single busy process (WAL, busy timeout); writes that claim work
start with BEGIN IMMEDIATE so two claimers never both read "free" and both take it.
PostgreSQL claims with FOR UPDATE SKIP LOCKED instead (see the queries that claim).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

_IMMEDIATE = "hitl_begin_immediate"
_LOOKUP = "hitl_lookup"  # no transaction: see Database.lookup


def normalize_url(url: str | URL) -> URL:
    """`postgresql://` and `postgres://` use psycopg 3, the driver the project ships."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so we can choose IMMEDIATE per transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(_LOOKUP, False):
            return  # each statement is its own transaction (the driver's autocommit)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")


# A pooled connection idle this long is checked (SELECT 1) before use: the server may have
# restarted meanwhile. One in use moments ago is not: `pool_pre_ping` would add a round
# trip to each of the 4 transactions of an item's submit and post.
_PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < _PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out another (a new one if needed).
            raise DisconnectionError(f"stale pooled connection: {error}") from error


class Database:
    """One engine per process; `read()` and `write()` hand out short transactions."""

    def __init__(
        self, url: str | URL, *, echo: bool = False, busy_timeout_seconds: float = 10.0
    ) -> None:
        """`busy_timeout_seconds`: how long SQLite waits for another writer's lock before
        the statement fails (the caller then retries later)."""
        self.url = normalize_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_seconds}
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, int(busy_timeout_seconds * 1000))
        else:
            _ping_after_idle(self.engine)
        self._write_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        # On PostgreSQL a transaction costs two round trips (BEGIN, then COMMIT or
        # ROLLBACK) besides its statements; a lookup runs its statements without one.
        self._lookup_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.is_postgres
            else self.engine.execution_options(**{_LOOKUP: True})
        )
        # SQLite has one writer at a time. Writers of this process queue on this lock
        # instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms and
        # so adds tens of ms to a request that meets the outbox's write. Other processes
        # are still waited for by the busy timeout.
        self._sqlite_writer = threading.RLock() if self.is_sqlite else None
        self._writer_wait_seconds = busy_timeout_seconds

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A read outside any transaction, for the hot path's short reads: each statement
        sees what was committed when it ran, as under PostgreSQL's READ COMMITTED `read()`
        (on SQLite a `read()` keeps one snapshot across its statements; a lookup does not).
        It must not stream (`yield_per` needs a transaction on PostgreSQL) nor write."""
        with Session(self._lookup_engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error."""
        writer = self._sqlite_writer
        # Past the wait, SQLite's own busy timeout decides (and may fail the write).
        queued = writer is not None and writer.acquire(timeout=self._writer_wait_seconds)
        try:
            with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            if queued:
                assert writer is not None
                writer.release()

    def execute_atomic(self, statement: Executable, params: dict[str, Any]) -> None:
        """One writing statement, atomic by itself, run without BEGIN and COMMIT on
        PostgreSQL (two round trips fewer than `write()`); elsewhere in a `write()`."""
        if not self.is_postgres:
            with self.write() as session:
                session.connection().execute(statement, params)
            return
        with self._lookup_engine.connect() as connection:
            connection.execute(statement, params)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

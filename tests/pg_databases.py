"""PostgreSQL databases for tests: created from a migrated template, and reused.

Creating a database from the template and dropping it afterwards costs the server about
0.1 s of CPU and a checkpoint per test; emptying one a finished test leaves behind costs a
few statements. So each test process keeps the migrated databases its tests are done with
and hands them out again, emptied, but only when the schema is still exactly the
template's (a test that downgraded it or added a trigger gets its database dropped).
"""

import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Connection, create_engine, text

# Tables, columns with their types, indexes, triggers, functions and the alembic revision:
# whatever a test could change about the schema.
_SCHEMA_FINGERPRINT = text(
    """
    SELECT md5(coalesce(string_agg(c.relname || '.' || a.attname || ':'
                                   || format_type(a.atttypid, a.atttypmod),
                                   ',' ORDER BY c.relname, a.attnum), ''))
        || ' ' || (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)
        || ' ' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)
        || ' ' || (SELECT coalesce(string_agg(version_num, ','), '') FROM alembic_version)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    """
)


def create_pg_database(admin_url: str, template: str | None = None) -> str:
    name = f"hitl_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        copy_of = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def schema_fingerprint(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(_SCHEMA_FINGERPRINT).scalar_one())
    finally:
        engine.dispose()


def drop_in_background(dropper: ThreadPoolExecutor, admin_url: str, url: str) -> None:
    """Drops the database on `dropper`'s threads; one left behind is said in the output."""
    dropper.submit(drop_pg_database, admin_url, url).add_done_callback(_report_failed_drop)


def _report_failed_drop(future: "Future[None]") -> None:
    if future.exception() is not None:  # left behind; visible in the session's output
        print(f"could not drop a test database: {future.exception()}")


class MigratedDatabases:
    """Copies of one migrated template, handed out empty, one test at a time each."""

    def __init__(
        self, admin_url: str, template: str, fingerprint: str, dropper: ThreadPoolExecutor
    ) -> None:
        self.admin_url = admin_url
        self.template = template
        self.fingerprint = fingerprint
        self.dropper = dropper
        self._free: list[str] = []

    def take(self) -> str:
        return self._free.pop() if self._free else create_pg_database(self.admin_url, self.template)

    def give_back(self, url: str) -> None:
        """Empties the database for the next test, or drops it if that cannot be done."""
        try:
            engine = create_engine(url, pool_size=1)
            try:
                with engine.connect() as conn:
                    reusable = self._empty(conn)
            finally:
                engine.dispose()
        except Exception:
            reusable = False
        if reusable:
            self._free.append(url)
        else:
            self.drop(url)

    def drop(self, url: str) -> None:
        drop_in_background(self.dropper, self.admin_url, url)

    def drop_all(self) -> None:
        while self._free:
            self.drop(self._free.pop())

    def _empty(self, conn: Connection) -> bool:
        # Whatever the test left connected (a killed server's pool, an engine it did not
        # dispose of) goes first, with its locks.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        if conn.execute(_SCHEMA_FINGERPRINT).scalar_one() != self.fingerprint:
            return False
        conn.execute(text("SET lock_timeout = '5s'"))  # a terminated backend exits at once
        # Without foreign-key triggers, so the tables empty in any order.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        tables = conn.execute(
            text(
                "SELECT quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalars()
        for table in list(tables):
            conn.execute(text(f"DELETE FROM {table}"))
        sequences = conn.execute(
            text("SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'")
        ).scalars()
        for sequence in list(sequences):
            conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        conn.commit()
        return True

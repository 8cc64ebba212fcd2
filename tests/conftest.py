"""Shared fixtures: a real database per backend, the Slack stand-in, and a running bot."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.migrate import migrate
from tests.harness import RULES, BotHarness, make_settings
from tests.inprocess import InProcessBot
from tests.pg_databases import (
    MigratedDatabases,
    create_pg_database,
    drop_in_background,
    schema_fingerprint,
)
from tests.slack_standin import SlackStandIn

PG_ADMIN_URL = os.environ.get(
    "HITL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except OperationalError as error:
        return str(error).splitlines()[0]


@pytest.fixture(scope="session")
def pg_server() -> str:
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL is unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable ({problem})")
    return PG_ADMIN_URL


# Fixtures that migrate the test's database before the test runs anyway: for them it
# starts as a copy of one migrated per session (same schema, none of the per-test work).
# A test whose own set-up migrates it first says so with `@pytest.mark.migrated_database`.
_MIGRATED_BEFORE_THE_TEST = {"bot", "db", "hitl"}


@pytest.fixture(scope="session")
def _pg_dropper() -> Iterator[ThreadPoolExecutor]:
    """Drops each test's PostgreSQL database in the background: a drop waits for a
    checkpoint of the whole server, which the next test need not wait for. Drops running
    side by side share one checkpoint, hence several threads."""
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pg-drop")
    yield executor
    executor.shutdown(wait=True)


@pytest.fixture(scope="session")
def _pg_migrated(pg_server: str, _pg_dropper: ThreadPoolExecutor) -> Iterator[MigratedDatabases]:
    """Migrated databases for this test process: copies of one template, reused."""
    url = create_pg_database(pg_server)
    database = Database(url)
    migrate(database)
    database.dispose()  # a template must have no connections when it is copied
    databases = MigratedDatabases(
        pg_server, url.rsplit("/", 1)[1], schema_fingerprint(url), _pg_dropper
    )
    yield databases
    databases.drop_all()
    drop_in_background(_pg_dropper, pg_server, url)


@pytest.fixture(scope="session")
def _sqlite_migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hitl.db"
    database = Database(f"sqlite:///{path}")
    migrate(database)
    database.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (already migrated when the test asks for a
    fixture that migrates it first anyway, `bot`, `db`, `hitl`, or is marked so)."""
    migrated = bool(_MIGRATED_BEFORE_THE_TEST & set(request.fixturenames)) or (
        request.node.get_closest_marker("migrated_database") is not None
    )
    if request.param == "sqlite":
        path = tmp_path / "hitl.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_migrated_template"), path)
        yield f"sqlite:///{path}"
        return
    if migrated:
        databases: MigratedDatabases = request.getfixturevalue("_pg_migrated")
        url = databases.take()
        try:
            yield url
        finally:
            databases.give_back(url)
        return
    admin = request.getfixturevalue("pg_server")
    dropper: ThreadPoolExecutor = request.getfixturevalue("_pg_dropper")
    url = create_pg_database(admin)
    try:
        yield url
    finally:
        drop_in_background(dropper, admin, url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend, for tests below the HTTP layer."""
    database = Database(database_url)
    migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    """Settings a test module changes for its `bot` (overridden where needed)."""
    return {}


@pytest.fixture
def bot(
    database_url: str, standin: SlackStandIn, rules_path: Path, bot_settings: dict
) -> Iterator[BotHarness]:
    harness = BotHarness(make_settings(database_url, standin, rules_path, **bot_settings), standin)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture
def hitl(
    database_url: str, standin: SlackStandIn, rules_path: Path, bot_settings: dict
) -> Iterator[InProcessBot]:
    """The bot built as `hitl serve` builds it, its Slack requests dispatched in-process
    (tests/inprocess.py); `bot` is the same served over real HTTP."""
    harness = InProcessBot(
        make_settings(database_url, standin, rules_path, **bot_settings), standin
    )
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # The venv's own `hitl`: CI runs .venv/bin/pytest without the venv on PATH.
        [str(Path(sys.executable).parent / "hitl"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotHarness]:
    """One `bot` (its own stand-in, migrated database, RULES) for a module's tests that
    leave no trace, such as requests it refuses: started once per backend and module
    rather than once per test. A test that stores, posts or changes anything asks for
    `bot` instead."""
    folder = tmp_path_factory.mktemp("shared_bot")
    rules = folder / "rules.yml"
    rules.write_text(RULES)
    databases: MigratedDatabases | None = None
    if request.param == "sqlite":
        path = folder / "hitl.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_migrated_template"), path)
        url = f"sqlite:///{path}"
    else:
        databases = request.getfixturevalue("_pg_migrated")
        url = databases.take()
    standin = SlackStandIn().start()
    harness = BotHarness(make_settings(url, standin, rules), standin)
    try:
        harness.start()
        try:
            yield harness
        finally:
            harness.stop()
    finally:
        standin.stop()
        if databases is not None:
            databases.give_back(url)

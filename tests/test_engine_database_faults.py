"""The delivery engine survives its database: an outage or a held lock stops nothing for
good, and /healthz tells while a loop is failing."""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from storage import outbox
from storage.db import Database
from tests import private_postgres
from tests.harness import AGENT_TOKEN, BotHarness, invoice, make_settings
from tests.plain_http import TLS
from tests.private_postgres import PrivatePostgres
from tests.slack_standin import SlackStandIn

needs_private_postgres = pytest.mark.skipif(
    not private_postgres.available(), reason="no PostgreSQL binaries for a private server"
)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


def health(bot: BotHarness) -> httpx.Response:
    return bot.http.get("/healthz")


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


@pytest.fixture
def pg_bot(
    private_pg: PrivatePostgres, standin: SlackStandIn, rules_path: Path
) -> Iterator[BotHarness]:
    url = private_pg.create_database("hitl")
    harness = BotHarness(make_settings(url, standin, rules_path), standin)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


@needs_private_postgres
@pytest.mark.postgres
def test_a_submission_after_a_quiet_outage_is_posted(
    private_pg: PrivatePostgres, pg_bot: BotHarness
) -> None:
    before = pg_bot.submit(external_id="before")
    pg_bot.wait_posted(before["id"])
    private_pg.stop()
    # No traffic: the worker's claims fail until the server is back.
    wait_until(lambda: health(pg_bot).status_code == 503, 30, "/healthz says 503")
    time.sleep(1.5)  # the worker's claims keep failing meanwhile (503 says they do)
    private_pg.start()
    wait_until(lambda: health(pg_bot).status_code == 200, 60, "/healthz says 200 again")
    item = pg_bot.submit(external_id="after")
    pg_bot.wait_posted(item["id"], timeout=60)
    assert len(pg_bot.posts_of(item["id"])) == 1


@needs_private_postgres
@pytest.mark.postgres
def test_items_accepted_around_an_outage_under_traffic_are_posted_once(
    private_pg: PrivatePostgres, pg_bot: BotHarness
) -> None:
    accepted: list[str] = []
    stop = threading.Event()

    def submit_steadily() -> None:
        with httpx.Client(verify=TLS, base_url=pg_bot.url, timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = client.post(
                        "/v1/reviews",
                        headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
                        json=invoice(external_id=f"traffic-{n}"),
                    )
                except httpx.HTTPError:
                    time.sleep(0.05)  # refused while the database is away: try again soon
                    continue
                if response.status_code in (200, 201):
                    accepted.append(response.json()["id"])
                time.sleep(0.05)

    agent = threading.Thread(target=submit_steadily)
    agent.start()
    try:
        wait_until(lambda: len(accepted) >= 10, 30, "ten items accepted before the outage")
        private_pg.stop()
        time.sleep(2)  # dozens of submissions meet the outage
        private_pg.start()
        count = len(accepted)
        wait_until(lambda: len(accepted) >= count + 10, 60, "ten items accepted after it")
    finally:
        stop.set()
        agent.join()
    try:
        pg_bot.standin.wait_for(lambda s: all(pg_bot.posts_of(i) for i in accepted), timeout=90)
    except AssertionError:
        raise AssertionError(f"never posted: {unposted_rows(pg_bot, accepted)}") from None
    for item_id in accepted:  # everything queued is done: a doubled post would show now
        pg_bot.wait_delivered(item_id, timeout=60)
    assert {item_id: len(pg_bot.posts_of(item_id)) for item_id in accepted} == dict.fromkeys(
        accepted, 1
    )


def unposted_rows(bot: BotHarness, item_ids: list[str]) -> list[tuple[object, ...]]:
    """The outbox rows of items never posted: what a failure needs to be understood."""
    db = Database(bot.settings.database_url)
    try:
        return [
            (item_id, row.status, row.attempts, row.lease_until, row.worker_id, row.last_error)
            for item_id in item_ids
            if not bot.posts_of(item_id)
            for row in outbox.rows_for_item(db, item_id)
        ]
    finally:
        db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hitl.db'}"


@pytest.fixture
def quick_sqlite_bot(
    sqlite_url: str, standin: SlackStandIn, rules_path: Path
) -> Iterator[BotHarness]:
    # A short busy timeout keeps the test short; the default (10 s) behaves the same.
    settings = make_settings(sqlite_url, standin, rules_path, sqlite_busy_timeout_seconds=0.5)
    harness = BotHarness(settings, standin)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def test_sqlite_write_lock_held_past_the_busy_timeout_then_released(
    quick_sqlite_bot: BotHarness, sqlite_url: str
) -> None:
    bot = quick_sqlite_bot
    first = bot.submit(external_id="first")
    bot.wait_posted(first["id"])
    assert health(bot).status_code == 200
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        wait_until(lambda: health(bot).status_code == 503, 30, "/healthz says 503")
        body = health(bot).json()
        assert "outbox" in body["loops"], body
        time.sleep(1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    wait_until(lambda: health(bot).status_code == 200, 30, "/healthz says 200 again")
    item = bot.submit(external_id="after-lock")
    bot.wait_posted(item["id"], timeout=30)
    metrics = bot.http.get("/metrics").text
    assert 'hitl_loop_last_success_timestamp_seconds{loop="outbox"}' in metrics
    assert "hitl_outbox_oldest_pending_age_seconds" in metrics

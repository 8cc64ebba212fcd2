"""The hourly drift alarm end to end: a rise seeded into the database becomes one alert
row and one Slack post in the alerts channel, once across replicas, never half-written
when the database fails, and its episode closes when the rise ends."""

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import insert, update
from sqlmodel import select
from ulid import ULID

from bot.drift_job import DriftJob, hour_label
from bot.rules_provider import RulesProvider
from storage import alerts
from storage.db import Database
from storage.migrate import migrate
from storage.models import (
    AlertStatus,
    DigestRun,
    DriftAlert,
    OutboxKind,
    OutboxMessage,
    ReviewItem,
    table_of,
)
from tests.harness import BotHarness, answer_lost, make_settings
from tests.history import HISTORY_RULES, RULES_VERSION, SNAPSHOTS
from tests.slack_standin import SlackStandIn

ALERTS_CHANNEL = "C0ALERTS"
RULES = f"alerts:\n  channel: {ALERTS_CHANNEL}\n" + HISTORY_RULES
# A past hour, so the outbox (on the real clock) finds the alert's post due at once.
CHANGE = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
BASELINE_HOURS = 35 * 24  # the 28 days of baseline and the week of window before CHANGE


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


class Seeder:
    """Writes decided ap-invoices items straight into review_item, hour by hour."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seq = 0

    def hour(
        self,
        start: datetime,
        *,
        decided: int,
        rejected: int,
        edited: int,
        prompt_version: str,
        model: str = "gpt-x",
    ) -> list[dict[str, Any]]:
        rows = []
        for index in range(decided):
            self.seq += 1
            status = "rejected" if index < rejected else "approved"
            if rejected <= index < rejected + edited:
                status = "edited"
            decided_at = start + timedelta(seconds=(index * 3599) // decided)
            rows.append(
                {
                    "id": f"rv_{ULID()}",
                    "agent": "invoice-bot",
                    "external_id": f"drift-{self.seq}",
                    "workflow": "ap-invoices",
                    "route": "invoices",
                    "route_snapshot": SNAPSHOTS["invoices"],
                    "rules_version": RULES_VERSION,
                    "title": f"Invoice {self.seq} from ACME",
                    "output": "Booked to account 6300.",
                    "final_output": "Booked to account 6300.",
                    "confidence": 0.6,
                    "context": {},
                    "links": [],
                    "metadata": {"model": model, "prompt_version": prompt_version},
                    "status": status,
                    "channel": "C0APREVIEW",
                    "message_ts": f"{int(decided_at.timestamp())}.{self.seq:06d}",
                    "escalations": [],
                    "created_at": decided_at - timedelta(minutes=5),
                    "decided_at": decided_at,
                    "callback_status": "none",
                }
            )
        return rows

    def write(self, rows: list[dict[str, Any]]) -> None:
        with self.db.write() as session:
            for first in range(0, len(rows), 2000):
                session.execute(insert(table_of(ReviewItem)), rows[first : first + 2000])

    def history(self) -> None:
        """Five weeks of 10 decisions an hour, exactly 1 rejected and 1 edited (10%)."""
        rows: list[dict[str, Any]] = []
        for back in range(BASELINE_HOURS, 0, -1):
            start = CHANGE - timedelta(hours=back)
            rows += self.hour(start, decided=10, rejected=1, edited=1, prompt_version="v13")
        self.write(rows)

    def new_version_doubles_rejections(self) -> None:
        """At CHANGE, v14 replaces v13: 400 decisions in the hour, 20% rejected."""
        self.write(self.hour(CHANGE, decided=400, rejected=80, edited=40, prompt_version="v14"))


def job_at(db: Database, rules_path: Path, clock: list[datetime], **kwargs: Any) -> DriftJob:
    return DriftJob(
        db=db,
        rules=RulesProvider(rules_path),
        scheduler=BackgroundScheduler(),  # never started: the tests call the job
        now=lambda: clock[0],
        queued=kwargs.pop("queued", lambda: None),
        **kwargs,
    )


def drift_rows(db: Database) -> tuple[list[DriftAlert], list[OutboxMessage], list[DigestRun]]:
    with db.read() as session:
        found = list(session.exec(select(DriftAlert)))
        posts = [
            row for row in session.exec(select(OutboxMessage)) if row.kind == OutboxKind.POST_DRIFT
        ]
        runs = list(session.exec(select(DigestRun).where(DigestRun.job == "drift")))
    return found, posts, runs


def posted_to(db: Database, alert_id: str) -> str | None:
    alert = alerts.get_alert(db, alert_id)
    return alert.channel if alert is not None else None


def alert_posts(standin: SlackStandIn) -> list[Any]:
    return [c for c in standin.calls_to("chat.postMessage") if c.args["channel"] == ALERTS_CHANNEL]


def test_a_new_prompt_version_doubling_rejections_raises_one_alert_and_one_post(
    hitl: BotHarness, standin: SlackStandIn, rules_path: Path
) -> None:
    db = hitl.runtime.db
    seeder = Seeder(db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    clock = [CHANGE + timedelta(hours=1)]  # the cron, the hour after the rise began
    job = job_at(db, rules_path, clock, queued=hitl.runtime.signals.outbox.set)

    raised = job.run()

    assert raised is not None and len(raised) == 1
    alert = raised[0]
    assert (alert.workflow, alert.metric) == ("ap-invoices", "rejection")
    assert (alert.dimension, alert.value) == ("prompt_version", "v14")
    assert alert.began_at == CHANGE and alert.detected_at == clock[0]
    assert (alert.recent_events, alert.recent_decided) == (80, 400)
    assert len(alert.examples) == 3
    standin.wait_for(lambda s: len(alert_posts(s)) == 1)
    post = alert_posts(standin)[0]
    assert "Rejections in ap-invoices doubled since prompt_version v14" in post.args["text"]
    blocks = json.dumps(post.args["blocks"])
    assert "10.0%" in blocks and "20.0%" in blocks and "(80 of 400)" in blocks
    assert "/archives/C0APREVIEW/p" in blocks  # the examples link to their messages
    assert "GET /v1/alerts" in blocks

    for later in (2, 3, 5):  # the rise goes on: the open episode raises nothing more
        clock[0] = CHANGE + timedelta(hours=later)
        assert job.run() == []
    hitl.runtime.signals.outbox.set()
    stored, posts, runs = drift_rows(db)
    assert [row.id for row in stored] == [alert.id]
    assert len(posts) == 1 and len(runs) == 4
    standin.wait_for(lambda s: posted_to(db, alert.id) == ALERTS_CHANNEL)
    assert len(alert_posts(standin)) == 1


def test_the_alarm_turned_off_writes_and_posts_nothing(db: Database, tmp_path: Path) -> None:
    seeder = Seeder(db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    rules_path = tmp_path / "rules.yml"
    rules_path.write_text(RULES.replace("alerts:\n", "alerts:\n  drift: false\n", 1))
    job = job_at(db, rules_path, [CHANGE + timedelta(hours=1)])

    assert job.run() is None
    job.watch()

    assert drift_rows(db) == ([], [], [])


def test_two_replicas_running_the_same_hour_raise_one_alert(
    hitl: BotHarness, standin: SlackStandIn, rules_path: Path, database_url: str
) -> None:
    seeder = Seeder(hitl.runtime.db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    clock = [CHANGE + timedelta(hours=1)]
    replicas = [Database(database_url) for _ in range(2)]
    jobs = [
        job_at(replica, rules_path, clock, queued=hitl.runtime.signals.outbox.set)
        for replica in replicas
    ]
    barrier = threading.Barrier(2)
    results: list[list[DriftAlert] | None] = []

    def run(job: DriftJob) -> None:
        barrier.wait()
        results.append(job.run())

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for replica in replicas:
        replica.dispose()

    assert sorted(len(result) if result is not None else -1 for result in results) == [-1, 1]
    stored, posts, runs = drift_rows(hitl.runtime.db)
    assert len(stored) == 1 and len(posts) == 1 and len(runs) == 1
    standin.wait_for(lambda s: len(alert_posts(s)) == 1)
    standin.wait_for(lambda s: posted_to(hitl.runtime.db, stored[0].id) == ALERTS_CHANNEL)
    assert len(alert_posts(standin)) == 1


@contextmanager
def database_held(database_url: str) -> Iterator[None]:
    """Another connection holds what the job's write needs: on SQLite the write lock, on
    PostgreSQL the drift_alert table (so the claim of the hour succeeds, then the alert's
    insert fails: the transaction must take the claim back with it)."""
    if database_url.startswith("sqlite"):
        writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as locker:
        locker.execute("LOCK TABLE drift_alert IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            locker.rollback()


def failing_fast(database_url: str) -> Database:
    """A Database whose writes give up after a fraction of a second when blocked."""
    if database_url.startswith("sqlite"):
        return Database(database_url, busy_timeout_seconds=0.3)
    return Database(f"{database_url}?options=-c%20lock_timeout%3D300")


def test_a_database_failure_during_the_run_leaves_nothing_and_the_watch_redoes_the_hour(
    database_url: str, rules_path: Path
) -> None:
    setup = Database(database_url)
    migrate(setup)
    seeder = Seeder(setup)
    seeder.history()
    seeder.new_version_doubles_rejections()
    db = failing_fast(database_url)
    clock = [CHANGE + timedelta(hours=1)]
    job = job_at(db, rules_path, clock)

    with database_held(database_url):
        job.run_safely()  # the cron's run fails, and says so in the log
    assert drift_rows(setup) == ([], [], [])  # nothing half-written

    clock[0] += timedelta(minutes=5)
    job.watch()  # the database is back: the watch runs the hour
    job.watch()  # and only once
    stored, posts, runs = drift_rows(setup)
    assert [(row.dimension, row.value) for row in stored] == [("prompt_version", "v14")]
    assert len(posts) == 1 and [run.period for run in runs] == [hour_label(clock[0])]
    db.dispose()
    setup.dispose()


def test_the_episode_closes_when_the_rise_ends_and_a_later_rise_is_a_new_one(
    db: Database, rules_path: Path
) -> None:
    seeder = Seeder(db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    clock = [CHANGE + timedelta(hours=1)]
    job = job_at(db, rules_path, clock)
    (first,) = job.run() or []

    # v14 is fixed within the hour: 400 decisions, none rejected, bring S back to 0.
    seeder.write(
        seeder.hour(
            CHANGE + timedelta(hours=1), decided=400, rejected=0, edited=40, prompt_version="v14"
        )
    )
    clock[0] = CHANGE + timedelta(hours=2)
    assert job.run() == []
    closed = alerts.get_alert(db, first.id)
    assert closed is not None
    assert closed.status == AlertStatus.CLOSED and closed.closed_at == clock[0]
    assert alerts.open_alerts(db) == []

    # A second rise, later, is a new episode with its own alert.
    seeder.write(
        seeder.hour(
            CHANGE + timedelta(hours=2), decided=400, rejected=100, edited=40, prompt_version="v14"
        )
    )
    clock[0] = CHANGE + timedelta(hours=3)
    (second,) = job.run() or []
    assert second.id != first.id and second.began_at == CHANGE + timedelta(hours=2)
    assert [alert.id for alert in alerts.open_alerts(db)] == [second.id]


def test_a_crowded_alert_stays_within_slacks_limits(standin: SlackStandIn) -> None:
    from slack_sdk import WebClient

    from handlers.drift_blocks import Example, drift_alert_message

    began = CHANGE.isoformat()
    evidence: list[dict[str, Any]] = [
        {
            "dimension": "model",
            "value": f"model-{index}-" + "x" * 150,
            "metric": "edit",
            "statistic": 20.0 - index / 10,
            "baseline_rate": 0.0,
            "recent_rate": 0.5,
            "recent_decided": 1_000_000,
            "recent_events": 500_000,
            "began_at": began,
            "own_baseline": False,
        }
        for index in range(40)
    ]
    alert = DriftAlert(
        id=f"al_{ULID()}",
        workflow="w" * 200,
        metric="edit",
        dimension="model",
        value=evidence[0]["value"],
        began_at=CHANGE,
        detected_at=CHANGE + timedelta(hours=1),
        baseline_rate=0.0,
        baseline_decided=10_000_000,
        recent_rate=0.5,
        recent_decided=1_000_000,
        recent_events=500_000,
        statistic=20.0,
        threshold=13.8,
        evidence=evidence,
        examples=[],
    )
    examples = [Example(f"rv_{index}", "<@U1> *" + "t" * 500, None) for index in range(3)]
    text, blocks = drift_alert_message(alert, examples)
    slack = WebClient(token=standin.bot_token, base_url=standin.url)

    answer = slack.chat_postMessage(channel=ALERTS_CHANNEL, text=text, blocks=blocks)

    assert answer["ok"]
    shown = json.dumps(
        standin.messages[(answer["channel"], answer["ts"])]["blocks"], ensure_ascii=False
    )
    assert "Edits in " in shown and "rose from none" in shown and "…and 31 more" in shown
    assert "<@U1>" not in shown  # an item's title cannot mention people


def test_a_running_bot_raises_the_alert_by_itself_and_shows_it_in_the_api_and_metrics(
    db: Database, standin: SlackStandIn, rules_path: Path, database_url: str
) -> None:
    """`hitl serve` runs the alarm with nothing but its own clock: a rise three days ago
    that is still going on is found by the job's first look after start."""
    seeder = Seeder(db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    bot = BotHarness(make_settings(database_url, standin, rules_path), standin).start()
    try:
        standin.wait_for(lambda s: len(alert_posts(s)) == 1)
        assert "since prompt_version v14" in alert_posts(standin)[0].args["text"]
        listed = bot.api("GET", "/v1/alerts", params={"status": "open"}).json()["alerts"]
        assert [(a["workflow"], a["metric"], a["value"]) for a in listed] == [
            ("ap-invoices", "rejection", "v14")
        ]
        assert listed[0]["began_at"].startswith(CHANGE.strftime("%Y-%m-%dT%H:00:00"))
        metrics = bot.api("GET", "/metrics", token=None).text
        assert 'hitl_drift_alerts_open{metric="rejection",workflow="ap-invoices"} 1.0' in metrics
    finally:
        bot.stop()
    assert len(alert_posts(standin)) == 1


def test_an_alert_posted_but_not_recorded_is_adopted_not_posted_again(
    db: Database, standin: SlackStandIn, rules_path: Path, database_url: str
) -> None:
    """Slack took the alert, but its answer never came back (the attempt was cut short):
    the retry finds the message in the alerts channel instead of posting it again."""
    seeder = Seeder(db)
    seeder.history()
    seeder.new_version_doubles_rejections()
    bot = BotHarness(make_settings(database_url, standin, rules_path), standin).start()
    try:
        standin.wait_for(lambda s: len(alert_posts(s)) == 1)
    finally:
        bot.stop()
    with db.write() as session:  # back to just after the post, its answer lost
        session.execute(update(DriftAlert).values(channel=None))
        answer_lost(session, OutboxKind.POST_DRIFT)
    bot = BotHarness(make_settings(database_url, standin, rules_path), standin).start()
    try:
        standin.wait_for(lambda s: all(a.channel for a in _alerts(db)))
    finally:
        bot.stop()
    assert [a.channel for a in _alerts(db)] == [ALERTS_CHANNEL]
    assert len(alert_posts(standin)) == 1
    assert standin.calls_to("conversations.history")  # it looked before posting


def _alerts(db: Database) -> list[DriftAlert]:
    with db.read() as session:
        return list(session.exec(select(DriftAlert)))

"""The digest reaches Slack within its limits, once per period, and from the command line."""

import json
import os
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import col

from bot import cli, digest_publisher
from digest import periods
from storage import digests
from storage.db import Database
from storage.migrate import migrate
from storage.models import DigestRun, OutboxKind
from tests.harness import BotHarness, answer_lost, make_settings
from tests.history import HISTORY_RULES, generate_history
from tests.processes import HITL
from tests.slack_standin import Call, SlackStandIn
from tests.test_digest import RULES, ZONE

# The week the schedule ("mon 09:00" Berlin) last came due, and so the one to catch up on.
assert RULES.digest is not None, "HISTORY_RULES must configure the weekly digest"
DUE = periods.latest_run(datetime.now(UTC), RULES.digest.weekly_time, ZONE)
LAST_WEEK = periods.last_full_week(DUE, ZONE)


@pytest.fixture
def history_url(database_url: str) -> str:
    db = Database(database_url)
    migrate(db)
    generate_history(db, week_start=LAST_WEEK.since, weeks=2)
    db.dispose()
    return database_url


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(HISTORY_RULES)
    return path


def _digest_posts(standin: SlackStandIn) -> list[Call]:
    return [c for c in standin.calls_to("chat.postMessage") if c.args["channel"] == "C0OPSREVIEW"]


def test_block_kit_and_chart_pass_slacks_checks(history_url: str, standin: SlackStandIn) -> None:
    from slack_sdk import WebClient

    db = Database(history_url)
    digest = digest_publisher.build(
        db, RULES, LAST_WEEK, now=datetime.now(UTC), team_url="https://acme.slack.com/"
    )
    db.dispose()
    slack = WebClient(token=standin.bot_token, base_url=standin.url)
    channel, ts = digest_publisher.post_message(slack, "C0OPSREVIEW", digest)
    assert digest_publisher.post_chart(slack, channel, ts, digest)
    posted = standin.messages[(channel, ts)]
    assert len(posted["blocks"]) <= 50
    assert "Top friction this week" in json.dumps(posted["blocks"])
    completed = standin.calls_to("files.completeUploadExternal")
    assert len(completed) == 1 and completed[0].args["thread_ts"] == ts
    upload = standin.calls_to("files.getUploadURLExternal")[0]
    assert int(upload.args["length"]) > 1000  # a real PNG, not an empty file


def test_a_missed_digest_is_posted_once_on_start_and_not_again(
    history_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    for _restart in range(2):
        bot = BotHarness(make_settings(history_url, standin, rules_path), standin).start()
        try:
            standin.wait_for(lambda s: len(_digest_posts(s)) == 1, timeout=30)
            standin.wait_for(lambda s: bool(s.calls_to("files.completeUploadExternal")), 30)
        finally:
            bot.stop()
    assert len(_digest_posts(standin)) == 1
    db = Database(history_url)
    runs = digests.runs(db, "weekly")
    db.dispose()
    assert [run.period for run in runs] == [LAST_WEEK.label]
    assert runs[0].message_ts and runs[0].chart_posted


def test_a_digest_posted_but_not_recorded_is_adopted_not_posted_again(
    history_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    """Slack took the digest, but its answer never came back (the attempt was cut short):
    the retry finds the message in the channel and records it instead of posting again."""
    bot = BotHarness(make_settings(history_url, standin, rules_path), standin).start()
    try:
        standin.wait_for(lambda s: len(_digest_posts(s)) == 1, timeout=30)
        standin.wait_for(lambda s: bool(s.calls_to("files.completeUploadExternal")), 30)
    finally:
        bot.stop()
    db = Database(history_url)
    try:
        [run] = digests.runs(db, "weekly")
        first_ts = run.message_ts
        with db.write() as session:  # back to just after the post, its answer lost
            session.execute(
                update(DigestRun)
                .where(col(DigestRun.id) == run.id)
                .values(channel=None, message_ts=None)
            )
            answer_lost(session, OutboxKind.POST_DIGEST)
        bot = BotHarness(make_settings(history_url, standin, rules_path), standin).start()
        try:
            standin.wait_for(lambda s: digests.runs(db, "weekly")[0].message_ts is not None, 30)
        finally:
            bot.stop()
        assert digests.runs(db, "weekly")[0].message_ts == first_ts
    finally:
        db.dispose()
    assert len(_digest_posts(standin)) == 1
    assert standin.calls_to("conversations.history")  # it looked before posting


def test_two_replicas_post_one_digest_per_period(
    history_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    db = Database(history_url)
    digests.claim_period(  # the missed week is already done: this test is about the next
        db,
        job="weekly",
        period=LAST_WEEK.label,
        since=LAST_WEEK.since,
        until=LAST_WEEK.until,
        now=datetime.now(UTC),
    )
    db.dispose()
    replicas = [
        BotHarness(make_settings(history_url, standin, rules_path), standin).start()
        for _ in range(2)
    ]
    try:
        standin.wait_for(lambda s: len(_digest_posts(s)) == 1, timeout=30)  # the claimed one
        next_week = periods.week(periods.week_of(LAST_WEEK.until, ZONE), ZONE)
        barrier = threading.Barrier(2)
        won: list[bool] = []

        def fire(replica: BotHarness) -> None:
            barrier.wait()
            # What the cron does on every replica when the schedule comes due.
            won.append(replica.runtime.digest._claim(next_week))

        threads = [threading.Thread(target=fire, args=(r,)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False, True]
        standin.wait_for(lambda s: len(_digest_posts(s)) == 2, timeout=30)
    finally:
        for replica in replicas:
            replica.stop()
    assert len(_digest_posts(standin)) == 2


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HITL, "digest", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _unset_others(env: dict[str, str]) -> dict[str, str | None]:
    """`env` for click's runner, which only adds to this process's environment: every
    other SLACK_/HITL_ variable set here is removed, as `env` leaves it out."""
    unset = {k: None for k in os.environ if k.startswith(("SLACK_", "HITL_")) and k not in env}
    return {**env, **unset}


def test_hitl_digest_prints_markdown_json_and_posts(
    history_url: str, standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(HITL_DATABASE_URL=history_url, HITL_RULES=str(rules_path))
    printed = _cli(env, "--week", LAST_WEEK.label)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith(f"# Friction digest {LAST_WEEK.label}")
    as_json = _cli(
        env,
        "--since",
        LAST_WEEK.since.astimezone(ZONE).date().isoformat(),
        "--until",
        LAST_WEEK.until.astimezone(ZONE).date().isoformat(),
        "--format",
        "json",
    )
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["totals"]["current"]["volume"] > 0
    assert document["period"]["since"].startswith(LAST_WEEK.since.strftime("%Y-%m-%dT%H"))

    # Refusals through the same command in-process (click's runner): each is decided
    # before anything is read or posted, and a process start apiece would only add time.
    for bad in (
        ["--week", "2026-47"],
        ["--since", "2026-11-10"],
        ["--week", LAST_WEEK.label, "--since", "2026-11-10", "--until", "2026-11-11"],
    ):
        refused = CliRunner().invoke(cli.main, ["digest", *bad], env=_unset_others(env))
        assert refused.exit_code == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.exception is None or isinstance(refused.exception, SystemExit)

    no_token = CliRunner().invoke(
        cli.main, ["digest", "--week", LAST_WEEK.label, "--post"], env=_unset_others(env)
    )
    assert no_token.exit_code == 2 and "SLACK_BOT_TOKEN" in no_token.stderr
    env.update(SLACK_BOT_TOKEN=standin.bot_token, SLACK_API_URL=standin.url)
    posted = _cli(env, "--week", LAST_WEEK.label, "--post")
    assert posted.returncode == 0, posted.stderr
    assert len(_digest_posts(standin)) == 1
    assert "https://" in json.dumps(standin.calls_to("chat.postMessage")[0].args["blocks"])

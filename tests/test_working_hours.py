"""Working hours end to end: a running bot whose clock the test sets, the Slack stand-in
over HTTP, and a working window of one minute a day. Steps fire inside the window, once
each; a step found due outside it waits for the next window; the API's deadline is the
real time the step fires. Time moves only when the test moves it, so a busy machine can
make the test slower but never wrong."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.server import Runtime
from storage.models import EscalationStepRow, StepStatus
from storage.reminders import reminders_of
from tests.harness import BotHarness, make_settings
from tests.slack_standin import SlackStandIn

# Working time is 17:59-18:00 UTC on weekdays: a window of 60 seconds a day.
WINDOW_RULES = """\
timezone: UTC
routes:
  - name: window
    match: {workflow: window}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    hours: {days: mon-fri, from: "17:59", to: "18:00"}
    holidays: [2026-11-23]
    escalation:
      - {after: 20s, to: [U0MANAGER], channel: C0ESC}
      - {after: 20s, to: [U0DIRECTOR], channel: C0ESC}
    on_exhausted: expire
  - name: nudge
    match: {workflow: nudge}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    hours: {days: mon-fri, from: "17:59", to: "18:00"}
    remind: 15s
"""

# The same route with no working hours: items already waiting must not notice the edit.
WITHOUT_HOURS = WINDOW_RULES.replace('    hours: {days: mon-fri, from: "17:59", to: "18:00"}\n', "")
WITHOUT_HOURS = WITHOUT_HOURS.replace("    holidays: [2026-11-23]\n", "")


class SetClock:
    """A clock that stands still until the test sets it (always forward)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            assert when >= self._now
            self._now = when


FRIDAY = datetime(2026, 11, 20, 17, 59, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> SetClock:
    return SetClock(FRIDAY)


@pytest.fixture
def windowed(
    database_url: str, standin: SlackStandIn, tmp_path: Path, clock: SetClock
) -> Iterator[BotHarness]:
    rules = tmp_path / "rules.yml"
    rules.write_text(WINDOW_RULES)
    settings = make_settings(database_url, standin, rules, sweep_seconds=0.2)
    harness = BotHarness.__new__(BotHarness)
    harness.settings, harness.standin = settings, standin
    harness.runtime = Runtime(settings, now=clock)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def pending_step(bot: BotHarness, item_id: str) -> EscalationStepRow | None:
    with bot.runtime.db.read() as session:
        return session.exec(
            select(EscalationStepRow).where(
                col(EscalationStepRow.item_id) == item_id,
                col(EscalationStepRow.status) == StepStatus.PENDING,
            )
        ).first()


def api_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_steps_fire_once_inside_the_window_and_wait_outside_it(
    windowed: BotHarness, clock: SetClock, tmp_path: Path
) -> None:
    bot = windowed
    item = bot.submit(workflow="window")
    item_id = item["id"]
    bot.wait_posted(item_id)
    # 20 s of working time from 17:59:10 on Friday: 17:59:30, the same day.
    assert api_time(item["deadline"]) == datetime(2026, 11, 20, 17, 59, 30, tzinfo=UTC)
    # Edits to the rules do not change the calendar of an item already waiting.
    (tmp_path / "rules.yml").write_text(WITHOUT_HOURS)

    clock.set(datetime(2026, 11, 20, 17, 59, 30, tzinfo=UTC))
    bot.standin.wait_for(lambda s: len(bot.escalation_posts(item_id)) == 1, timeout=30)
    level1 = bot.item(item_id)
    assert level1["escalation_level"] == 1
    # 20 s more from 17:59:30: 17:59:50.
    assert api_time(level1["deadline"]) == datetime(2026, 11, 20, 17, 59, 50, tzinfo=UTC)

    clock.set(datetime(2026, 11, 20, 17, 59, 50, tzinfo=UTC))
    bot.standin.wait_for(lambda s: len(bot.escalation_posts(item_id)) == 2, timeout=30)
    level2 = bot.item(item_id)
    # The last step's 20 s again: 10 s on Friday, then Monday is a holiday and the window
    # opens on Tuesday at 17:59: 17:59:10 on Tuesday, the real time it will expire.
    tuesday_due = datetime(2026, 11, 24, 17, 59, 10, tzinfo=UTC)
    assert api_time(level2["deadline"]) == tuesday_due
    assert str(int(tuesday_due.timestamp())) in str(bot.message(item_id)["blocks"])

    # The clock next looks on Tuesday at 19:00 (hitl was down): past due, but outside
    # working hours, so the item waits for Wednesday's window instead of expiring now.
    clock.set(datetime(2026, 11, 24, 19, 0, tzinfo=UTC))
    wednesday = datetime(2026, 11, 25, 17, 59, tzinfo=UTC)
    bot.standin.wait_for(
        lambda s: (step := pending_step(bot, item_id)) is not None and step.due_at == wednesday,
        timeout=30,
    )
    waiting = bot.item(item_id)
    assert waiting["status"] == "pending" and api_time(waiting["deadline"]) == wednesday

    clock.set(wednesday)
    expired = bot.item(item_id)
    bot.standin.wait_for(lambda s: bot.item(item_id)["status"] == "expired", timeout=30)
    expired = bot.item(item_id)
    assert expired["escalation_level"] == 2
    assert len(bot.escalation_posts(item_id)) == 2  # each step once


def thread_replies(bot: BotHarness, ts: str) -> list[str]:
    return [
        str(call.args.get("text"))
        for call in bot.standin.calls_to("chat.postMessage")
        if call.args.get("thread_ts") == ts
    ]


def test_reminders_count_working_time_and_wait_for_the_window(
    windowed: BotHarness, clock: SetClock
) -> None:
    bot = windowed
    item_id = bot.submit(workflow="nudge")["id"]
    _channel, ts = bot.wait_posted(item_id)
    [first] = reminders_of(bot.runtime.db, item_id)
    assert first.due_at == datetime(2026, 11, 20, 17, 59, 25, tzinfo=UTC)

    clock.set(first.due_at)
    bot.standin.wait_for(lambda s: len(thread_replies(bot, ts)) == 1, timeout=30)
    assert "<@U0ALICE>" in thread_replies(bot, ts)[0]

    # The next one was due at 17:59:40; the clock next looks on Saturday: it waits for
    # Monday's window instead of pinging people at the weekend.
    clock.set(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    monday = datetime(2026, 11, 23, 17, 59, tzinfo=UTC)

    def deferred() -> bool:
        waiting = [r for r in reminders_of(bot.runtime.db, item_id) if r.status == "pending"]
        return [r.due_at for r in waiting] == [monday]

    bot.standin.wait_for(lambda s: deferred(), timeout=30)
    assert len(thread_replies(bot, ts)) == 1

    clock.set(monday)
    bot.standin.wait_for(lambda s: len(thread_replies(bot, ts)) == 2, timeout=30)

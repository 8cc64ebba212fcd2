"""Reminders: a reply in the item's thread naming who may decide, at the `remind` interval,
until the next step fires or the item is decided; once each, across a restart and on two
replicas. Reminders are an hour or more away; the tests bring them forward in the
database, so nothing fires before the test means it to."""

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from handlers import blocks
from storage.db import Database
from storage.models import (
    EscalationStepRow,
    OutboxMessage,
    OutboxStatus,
    ReminderRow,
    StepStatus,
)
from storage.reminders import reminders_of
from tests.harness import AGENT_TOKEN, BotHarness, invoice
from tests.plain_http import TLS
from tests.processes import free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn

REMIND_RULES = """\
timezone: UTC
routes:
  - name: remind
    match: {workflow: remind}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    remind: 1h
    escalation:
      - {after: 3h, to: [U0MANAGER], channel: C0ESC, remind: 30m}
  - name: plain
    match: {workflow: plain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    remind: 1h
"""
# Items submitted through each replica in the two-replica test: enough that both
# replicas' sweeps claim from the same due reminders.
PER_REPLICA = 8


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(REMIND_RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}


def bring_due(database: Database, model: type[ReminderRow] | type[EscalationStepRow]) -> None:
    """Every pending row of `model` falls due now, as if its time had passed."""
    with database.write() as session:
        session.execute(
            update(model)
            .where(col(model.status) == StepStatus.PENDING)
            .values(due_at=datetime.now(UTC))
        )


def reminders_posted(standin: SlackStandIn) -> dict[str, list[str]]:
    """Reminder texts by the thread (the item's message ts) they were posted in."""
    threads: dict[str, list[str]] = {}
    for call in standin.calls_to("chat.postMessage"):
        text = str(call.args.get("text", ""))
        if call.args.get("thread_ts") and text.startswith(":bell:"):
            threads.setdefault(str(call.args["thread_ts"]), []).append(text)
    return threads


def outbox_drained(database: Database) -> bool:
    with database.read() as session:
        waiting = session.exec(
            select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING)
        ).one()
    return waiting == 0


def test_reminders_name_who_may_decide_until_the_next_step_then_stop_on_a_decision(
    bot: BotHarness,
) -> None:
    item_id = bot.submit(workflow="remind")["id"]
    channel, ts = bot.wait_posted(item_id)
    db = bot.runtime.db
    [first] = reminders_of(db, item_id)
    assert (first.level, first.seq) == (0, 1)

    bring_due(db, ReminderRow)
    bot.standin.wait_for(lambda s: ts in reminders_posted(s), timeout=30)
    [text] = reminders_posted(bot.standin)[ts]
    assert "<@U0ALICE>" in text and "U0MANAGER" not in text
    [reply] = [c for c in bot.standin.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert reply.args["channel"] == channel == "C0OWNER"
    # The next reminder is an hour after the first one's due time.
    pending = [r for r in reminders_of(db, item_id) if r.status == StepStatus.PENDING]
    assert [(r.level, r.seq) for r in pending] == [(0, 2)]

    bring_due(db, EscalationStepRow)  # the step fires first: level 0 reminders are over
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item_id)), timeout=30)
    bring_due(db, ReminderRow)
    bot.standin.wait_for(lambda s: len(reminders_posted(s).get(ts, [])) == 2, timeout=30)
    second = reminders_posted(bot.standin)[ts][1]
    assert "<@U0ALICE>" in second and "<@U0MANAGER>" in second  # the step's people too
    by_key = {(r.level, r.seq): r.status for r in reminders_of(db, item_id)}
    assert by_key[(0, 2)] == StepStatus.CANCELLED  # overtaken by the step: never posted
    assert by_key[(1, 1)] == StepStatus.FIRED and by_key[(1, 2)] == StepStatus.PENDING

    bot.click(item_id, blocks.APPROVE, "U0ALICE")
    assert bot.item(item_id, wait=25)["status"] == "approved"
    assert all(r.status != StepStatus.PENDING for r in reminders_of(db, item_id))
    bring_due(db, ReminderRow)  # nothing left to bring: a decided item is not reminded
    bot.standin.wait_for(lambda s: outbox_drained(db), timeout=30)
    assert len(reminders_posted(bot.standin)[ts]) == 2


def _submit(port: str, n: int, prefix: str) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/reviews",
        json=invoice(workflow="plain", external_id=f"{prefix}{n}"),
        headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
        timeout=30,
        verify=TLS,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _posted_items(standin: SlackStandIn) -> int:
    return sum(
        1
        for call in standin.calls_to("chat.postMessage")
        if (call.args.get("metadata") or {}).get("event_type") == "hitl_review"
    )


def test_reminders_due_while_the_process_was_dead_are_posted_once_on_restart(
    database_url: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(REMIND_RULES)
    env = serve_env(database_url, standin, rules, free_port())
    process = start_serve(env, tmp_path)
    ids = [_submit(env["HITL_PORT"], n, "k") for n in range(4)]
    standin.wait_for(lambda s: _posted_items(s) == 4, timeout=30)  # threads to reply in
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    database = Database(database_url)
    try:
        bring_due(database, ReminderRow)  # the hour passes while nothing runs
        assert reminders_posted(standin) == {}
        restarted = start_serve(env, tmp_path)
        try:
            standin.wait_for(lambda s: len(reminders_posted(s)) == 4, timeout=60)
            standin.wait_for(lambda s: outbox_drained(database), timeout=30)
        finally:
            stop_serve(restarted)
        assert all(len(texts) == 1 for texts in reminders_posted(standin).values())
        for item_id in ids:
            states = [(r.seq, r.status) for r in reminders_of(database, item_id)]
            assert states == [(1, StepStatus.FIRED), (2, StepStatus.PENDING)]
    finally:
        database.dispose()


def test_two_replicas_post_each_of_16_simultaneous_reminders_once(
    pg_server: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    from tests.pg_databases import create_pg_database, drop_pg_database

    url = create_pg_database(pg_server)
    rules = tmp_path / "rules.yml"
    rules.write_text(REMIND_RULES)
    replicas = []
    try:
        for _ in range(2):
            env = serve_env(url, standin, rules, free_port()) | {"HITL_SWEEP_SECONDS": "0.5"}
            replicas.append((env, start_serve(env, tmp_path)))
        ids: list[str] = []
        lock = threading.Lock()

        def submit(replica: int) -> None:
            for n in range(PER_REPLICA):
                item_id = _submit(replicas[replica][0]["HITL_PORT"], n, f"r{replica}-")
                with lock:
                    ids.append(item_id)

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ids)) == 2 * PER_REPLICA
        standin.wait_for(lambda s: _posted_items(s) == len(ids), timeout=60)
        database = Database(url)
        try:
            bring_due(database, ReminderRow)  # at once, for both replicas' next sweeps
            standin.wait_for(lambda s: len(reminders_posted(s)) == len(ids), timeout=60)
            standin.wait_for(lambda s: outbox_drained(database), timeout=30)
            assert all(len(texts) == 1 for texts in reminders_posted(standin).values())
            for item_id in ids:
                fired = [r for r in reminders_of(database, item_id) if r.status == "fired"]
                assert len(fired) == 1
        finally:
            database.dispose()
    finally:
        for _env, process in replicas:
            process.terminate()
        try:
            for _env, process in replicas:
                stop_serve(process)
        finally:
            for _env, process in replicas:
                process.kill()
        drop_pg_database(pg_server, url)

"""Escalation chains end to end, with chains of seconds: never early, once, and stopped by a
decision.

A step may fire late on a busy machine, so the tests assert only that it never fires before
its time and wait generously for it; how late steps fire is measured by
benchmarks/escalation_lateness.py."""

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from handlers import blocks
from storage.models import EscalationStepRow, StepStatus
from tests.callback_receiver import CallbackReceiver
from tests.harness import BotHarness, actions_of

CHAIN_RULES = """\
timezone: UTC
routes:
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 2s, to: [U0MANAGER], channel: C0ESC}
      - {after: 2s, to: [U0DIRECTOR]}
    on_exhausted: expire
  - name: chain-reject
    match: {workflow: chain-reject}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1s, to: [U0MANAGER]}
    on_exhausted: reject
  - name: chain-keep
    match: {workflow: chain-keep}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1s, to: [U0MANAGER]}
    on_exhausted: keep
  - name: chain-repeat
    match: {workflow: chain-repeat}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1s, to: [U0MANAGER], channel: C0ESC}
    repeat: 2
    on_exhausted: expire
  - name: chain-later
    match: {workflow: chain-later}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [U0MANAGER], channel: C0ESC}
      - {after: 1h, to: [U0DIRECTOR]}
"""


def make_due_now(bot: BotHarness, item_id: str) -> None:
    """Brings the item's waiting step forward to now, as if its hour had passed; the
    periodic sweep fires it. (Chains of hours, so that no step fires before the test
    means it to on a slow machine, and no test waits out a real delay.)"""
    with bot.runtime.db.write() as session:
        session.execute(
            update(EscalationStepRow)
            .where(col(EscalationStepRow.item_id) == item_id)
            .where(col(EscalationStepRow.status) == StepStatus.PENDING)
            .values(due_at=datetime.now(UTC))
        )


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(CHAIN_RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}  # sweeps often: chains here are seconds long


def test_each_step_arrives_once_at_its_time_then_the_item_expires(bot: BotHarness) -> None:
    receiver = CallbackReceiver().start()
    try:
        started = time.monotonic()
        item = bot.submit(workflow="chain", callback_url=receiver.url)
        assert item["deadline"] is not None
        bot.standin.wait_for(lambda s: len(bot.escalation_posts(item["id"])) == 1, timeout=30)
        first = bot.escalation_posts(item["id"])[0]
        assert first.args["channel"] == "C0ESC"
        assert first.at - started >= 1.9  # not before its 2 s
        level1 = bot.item(item["id"])
        assert level1["escalation_level"] == 1 and level1["status"] == "pending"
        assert level1["deadline"] > item["deadline"]

        bot.standin.wait_for(lambda s: len(bot.escalation_posts(item["id"])) == 2, timeout=30)
        second = bot.escalation_posts(item["id"])[1]
        assert second.args["channel"].startswith("D")  # by direct message to the director
        assert bot.standin.calls_to("conversations.open")[0].args["users"] == "U0DIRECTOR"
        assert second.at - started >= 3.9  # 2 s after the first step's due time

        expired = bot.item(item["id"], wait=25)
        assert expired["status"] == "expired" and expired["escalation_level"] == 2
        assert time.monotonic() - started >= 5.9
        bot.standin.wait_for(lambda s: bool(receiver.successful()), timeout=30)
        assert receiver.successful()[0].json["status"] == "expired"
        bot.standin.wait_for(
            lambda s: (
                all(not actions_of(m) for _, m in bot.escalation_messages(item["id"]))
                and not actions_of(bot.message(item["id"]))
            ),
            timeout=30,
        )
        assert "Expired" in str(bot.message(item["id"])["blocks"])
        time.sleep(1)
        assert len(bot.escalation_posts(item["id"])) == 2
    finally:
        receiver.stop()


def test_the_original_shows_the_escalation_and_the_escalation_says_why(bot: BotHarness) -> None:
    item = bot.submit(workflow="chain-later")
    bot.wait_posted(item["id"])
    make_due_now(bot, item["id"])
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item["id"])), timeout=30)
    (_key, escalated) = bot.escalation_messages(item["id"])[0]
    why = str(escalated["blocks"][0])
    assert "<@U0MANAGER>, please decide: nobody in <#C0OWNER>" in why
    assert "<@U0ALICE>" not in why  # the owners are not pinged again
    assert "/archives/C0OWNER/p" in why  # links to the original message
    assert actions_of(escalated) == [
        blocks.APPROVE,
        blocks.EDIT,
        blocks.REJECT,
        blocks.TAKE,
        blocks.HAND_OVER,
    ]
    bot.standin.wait_for(
        lambda s: "Escalated to <@U0MANAGER> in <#C0ESC>" in str(bot.message(item["id"])["blocks"]),
        timeout=30,
    )


def test_a_decision_on_the_escalation_updates_both_and_stops_the_chain(bot: BotHarness) -> None:
    item = bot.submit(workflow="chain-later")
    bot.wait_posted(item["id"])
    make_due_now(bot, item["id"])
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item["id"])), timeout=30)
    (key, _message) = bot.escalation_messages(item["id"])[0]
    bot.click(item["id"], blocks.APPROVE, "U0MANAGER", on=key)
    decided = bot.item(item["id"], wait=25)
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0MANAGER"
    bot.standin.wait_for(
        lambda s: not actions_of(bot.message(item["id"])) and not actions_of(s.messages[key]),
        timeout=30,
    )
    make_due_now(bot, item["id"])  # the director's hour passes too: nothing more happens
    time.sleep(1.5)  # three sweeps
    assert len(bot.escalation_posts(item["id"])) == 1
    assert bot.item(item["id"])["status"] == "approved"


def test_the_manager_may_decide_only_once_escalated_to(bot: BotHarness) -> None:
    item = bot.submit(workflow="chain-later")  # an hour away: the early click is early
    bot.click(item["id"], blocks.APPROVE, "U0MANAGER")
    bot.standin.wait_for(lambda s: bool(bot.ephemerals_to("U0MANAGER")))
    assert bot.item(item["id"])["status"] == "pending"
    make_due_now(bot, item["id"])
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item["id"])), timeout=30)
    bot.click(item["id"], blocks.APPROVE, "U0MANAGER")  # now from the original message
    assert bot.item(item["id"], wait=25)["status"] == "approved"


def test_on_exhausted_reject(bot: BotHarness) -> None:
    item = bot.submit(workflow="chain-reject")
    rejected = bot.item(item["id"], wait=25)
    assert rejected["status"] == "rejected"
    assert rejected["decision"]["by"] == "hitl" and rejected["decision"]["reason"] == "no_decision"


def test_on_exhausted_keep_stays_pending_without_more_escalations(bot: BotHarness) -> None:
    item = bot.submit(workflow="chain-keep")
    bot.standin.wait_for(lambda s: len(bot.escalation_posts(item["id"])) == 1, timeout=30)
    # The chain runs out a second after the step; then the item keeps waiting, unescalated.
    bot.standin.wait_for(lambda s: bot.item(item["id"])["deadline"] is None, timeout=30)
    time.sleep(1)
    kept = bot.item(item["id"])
    assert kept["status"] == "pending" and kept["deadline"] is None
    assert len(bot.escalation_posts(item["id"])) == 1


def test_repeat_runs_the_last_step_again(bot: BotHarness) -> None:
    started = time.monotonic()
    item = bot.submit(workflow="chain-repeat")
    bot.standin.wait_for(lambda s: len(bot.escalation_posts(item["id"])) == 3, timeout=30)
    posts = bot.escalation_posts(item["id"])
    assert [call.args["channel"] for call in posts] == ["C0ESC"] * 3
    # The step and its two repeats fall due 1, 2 and 3 s after the submission: none is early
    # (a late one is the machine's load; benchmarks/escalation_lateness.py measures that).
    times = [call.at - started for call in posts]
    assert all(t >= due - 0.1 for t, due in zip(times, [1, 2, 3], strict=True)), times
    assert bot.item(item["id"], wait=25)["status"] == "expired"
    assert len(bot.escalation_posts(item["id"])) == 3


def test_editing_the_rules_never_changes_a_waiting_items_chain(
    bot: BotHarness, rules_path: Path
) -> None:
    item = bot.submit(workflow="chain")
    rules_path.write_text(CHAIN_RULES.replace("after: 2s, to: [U0MANAGER]", "after: 1h, to: [U0X]"))
    time.sleep(0.1)
    newer = bot.submit(workflow="chain")
    bot.standin.wait_for(lambda s: len(bot.escalation_posts(item["id"])) == 1, timeout=30)
    assert bot.escalation_posts(newer["id"]) == []  # the new rules: an hour away
    assert bot.item(newer["id"])["rules_version"] != item["rules_version"]
    gap = datetime.fromisoformat(newer["deadline"]) - datetime.fromisoformat(newer["created_at"])
    assert gap.total_seconds() == 3600


def test_the_audit_trail_records_each_escalation(bot: BotHarness) -> None:
    from storage import audit

    item = bot.submit(workflow="chain-repeat")
    assert bot.item(item["id"], wait=25)["status"] == "expired"
    with bot.runtime.db.read() as session:
        events = audit.trail(session, item["id"])
    actions = [event.action for event in events]
    assert actions.count("escalated") == 3 and actions[-1] == "decided"
    levels = [event.detail["level"] for event in events if event.action == "escalated"]
    assert levels == [1, 2, 3]
    assert all(e.source == "scheduler" for e in events if e.action == "escalated")

"""User groups as escalation targets, end to end through the stand-in's
`usergroups.users.list`: members asked when the step fires, recorded in the audit trail,
allowed to decide from then on; a group that cannot be resolved falls back to a channel
with a visible warning. Steps are an hour away; the test brings them forward."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from handlers import blocks
from storage import audit
from storage.escalations import messages_of
from storage.models import AuditEvent, EscalationStepRow, StepStatus
from tests.harness import BotHarness
from tests.slack_standin import SlackStandIn

GROUP_RULES = """\
timezone: UTC
routes:
  - name: in-channel
    match: {workflow: in-channel}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [S0LEADS], channel: C0ESC}
  - name: by-dm
    match: {workflow: by-dm}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [S0LEADS, U0LEAD1]}
  - name: gone-in-channel
    match: {workflow: gone-in-channel}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [S0GONE], channel: C0ESC}
  - name: empty-by-dm
    match: {workflow: empty-by-dm}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [S0EMPTY]}
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(GROUP_RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}


@pytest.fixture(autouse=True)
def groups(standin: SlackStandIn) -> None:
    standin.usergroups.update({"S0LEADS": ["U0LEAD1", "U0LEAD2"], "S0EMPTY": []})


def make_due_now(bot: BotHarness, item_id: str) -> None:
    with bot.runtime.db.write() as session:
        session.execute(
            update(EscalationStepRow)
            .where(col(EscalationStepRow.item_id) == item_id)
            .where(col(EscalationStepRow.status) == StepStatus.PENDING)
            .values(due_at=datetime.now(UTC))
        )


def trail(bot: BotHarness, item_id: str) -> list[AuditEvent]:
    with bot.runtime.db.read() as session:
        return list(audit.trail(session, item_id))


def test_a_group_is_resolved_when_its_step_fires_and_its_members_may_decide(
    bot: BotHarness,
) -> None:
    item_id = bot.submit(workflow="in-channel")["id"]
    bot.click(item_id, blocks.APPROVE, "U0LEAD2")  # not asked yet: refused
    bot.standin.wait_for(lambda s: bool(bot.ephemerals_to("U0LEAD2")))
    assert bot.item(item_id)["status"] == "pending"
    assert not bot.standin.calls_to("usergroups.users.list")  # asked at firing, not before

    make_due_now(bot, item_id)
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item_id)), timeout=30)
    [lookup] = bot.standin.calls_to("usergroups.users.list")
    assert lookup.args["usergroup"] == "S0LEADS"
    [(key, message)] = bot.escalation_messages(item_id)
    assert key[0] == "C0ESC"
    shown = str(message["blocks"])
    assert "<!subteam^S0LEADS>" in shown and "<@U0LEAD1>" in shown and "<@U0LEAD2>" in shown
    resolved = [e for e in trail(bot, item_id) if e.action == "group_resolved"]
    assert [(e.detail["group"], e.detail["members"]) for e in resolved] == [
        ("S0LEADS", ["U0LEAD1", "U0LEAD2"])
    ]
    # The group changes later: who was asked when the step fired may still decide.
    bot.standin.usergroups["S0LEADS"] = ["U0SOMEONEELSE"]
    bot.click(item_id, blocks.APPROVE, "U0LEAD2", on=key)
    approved = bot.item(item_id, wait=25)
    assert approved["status"] == "approved" and approved["decision"]["by"] == "U0LEAD2"


def test_a_group_escalated_by_direct_message_reaches_each_member_once(bot: BotHarness) -> None:
    item_id = bot.submit(workflow="by-dm")["id"]
    bot.wait_posted(item_id)
    make_due_now(bot, item_id)
    # U0LEAD1 is named and in the group: one DM each for U0LEAD1 and U0LEAD2.
    bot.standin.wait_for(lambda s: len(bot.escalation_messages(item_id)) == 2, timeout=30)
    channels = sorted(key[0] for key, _message in bot.escalation_messages(item_id))
    assert channels == ["D0LEAD1", "D0LEAD2"]
    bot.standin.wait_for(lambda s: not _unposted(bot, item_id), timeout=30)
    assert len(bot.escalation_posts(item_id)) == 2


def _unposted(bot: BotHarness, item_id: str) -> bool:
    """A person's escalation message not posted yet (the group's own row never is)."""
    messages = messages_of(bot.runtime.db, item_id)
    return any(m.ts is None and not m.target.startswith("S") for m in messages)


@pytest.mark.parametrize(
    ("workflow", "group", "error", "channel"),
    [
        ("gone-in-channel", "S0GONE", "no_such_subteam", "C0ESC"),
        ("empty-by-dm", "S0EMPTY", "no_members", "C0OWNER"),
    ],
)
def test_a_group_that_cannot_be_resolved_falls_back_to_a_channel_with_a_warning(
    bot: BotHarness, workflow: str, group: str, error: str, channel: str
) -> None:
    item_id = bot.submit(workflow=workflow)["id"]
    bot.wait_posted(item_id)
    make_due_now(bot, item_id)
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item_id)), timeout=30)
    [(key, message)] = bot.escalation_messages(item_id)
    assert key[0] == channel  # never silence: the step's channel, else the owner's
    warning = f":warning: user group `{group}` could not be resolved (`{error}`)"
    assert warning in str(message["blocks"])
    # The original message shows the warning too, once it is updated.
    bot.standin.wait_for(lambda s: warning in str(bot.message(item_id)["blocks"]), timeout=30)
    unresolved = [e for e in trail(bot, item_id) if e.action == "group_unresolved"]
    assert [(e.detail["group"], e.detail["error"]) for e in unresolved] == [(group, error)]
    assert bot.item(item_id)["status"] == "pending"

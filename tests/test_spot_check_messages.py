"""A spot check as the reviewer meets it, through the Slack stand-in: the post says why
it was posted, "Wrong" asks for a reason before recording anything, and once judged the
buttons give way to who judged what."""

from pathlib import Path

import pytest

from handlers import blocks
from storage import audit, spot_checks
from tests.harness import BotHarness, actions_of, reject_values
from tests.test_messages import texts, wait_for_view

RULES = """\
timezone: UTC
routes:
  - name: replies
    match: {workflow: "replies-*"}
    auto_approve_at: 0.9
    audit_sample: 1.0
    owner: {channel: C0REPLIES, users: [U0ALICE, U0BOB]}
    reject_reasons: [{id: wrong_tone, label: "Tone is off"}, wrong_facts]
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


def test_a_spot_check_says_why_it_was_posted(bot: BotHarness) -> None:
    item = bot.submit(workflow="replies-email", confidence=0.93)
    assert item["status"] == "auto_approved"
    message = bot.message(item["id"])
    assert (
        "Auto-approved at confidence 0.93 (threshold 0.9); sampled for a spot check "
        "(100% of auto-approvals)"
    ) in texts(message)
    assert actions_of(message) == [blocks.SPOT_OK, blocks.SPOT_WRONG]


def test_wrong_asks_for_a_reason_and_the_verdict_replaces_the_buttons(bot: BotHarness) -> None:
    item = bot.submit(workflow="replies-email", confidence=0.95)
    bot.message(item["id"])
    bot.click(item["id"], blocks.SPOT_WRONG, "U0ALICE")
    view = wait_for_view(bot, 1)
    assert view["callback_id"] == blocks.SPOT_WRONG_CALLBACK
    select = next(b for b in view["blocks"] if b.get("block_id") == blocks.REASON_BLOCK)
    options = [(o["text"]["text"], o["value"]) for o in select["element"]["options"]]
    assert options == [("Tone is off", "wrong_tone"), ("Wrong facts", "wrong_facts")]
    # Nothing is recorded until the reason is given: the buttons are still there.
    assert actions_of(bot.message(item["id"])) == [blocks.SPOT_OK, blocks.SPOT_WRONG]

    values = reject_values("wrong_tone", note="Too curt for a first reply")
    response = bot.submit_view(blocks.SPOT_WRONG_CALLBACK, item["id"], "U0ALICE", values)
    assert response.status_code == 200 and response.text in ("", "{}"), response.text
    bot.standin.wait_for(lambda s: not actions_of(bot.message(item["id"])))
    shown = texts(bot.message(item["id"]))
    assert ":thumbsdown: Wrong: <@U0ALICE>" in shown
    assert "reason: *Tone is off* · “Too curt for a first reply”" in shown
    assert bot.item(item["id"])["status"] == "auto_approved"  # a verdict changes no decision
    with bot.runtime.db.read() as session:
        [checked] = [e for e in audit.trail(session, item["id"]) if e.action == "spot_checked"]
    assert (checked.actor, checked.detail["verdict"], checked.detail["reason"]) == (
        "U0ALICE",
        "wrong",
        "wrong_tone",
    )


def test_looks_right_is_recorded_at_once_and_shown(bot: BotHarness) -> None:
    item = bot.submit(workflow="replies-chat", confidence=0.91)
    bot.message(item["id"])
    bot.click(item["id"], blocks.SPOT_OK, "U0BOB")
    bot.standin.wait_for(lambda s: not actions_of(bot.message(item["id"])))
    assert ":thumbsup: Looks right: <@U0BOB>" in texts(bot.message(item["id"]))
    checks = spot_checks.spot_checks_of(bot.runtime.db, item["id"])
    assert [(c.user_id, c.verdict) for c in checks] == [("U0BOB", "ok")]


def test_only_the_routes_people_may_judge_and_a_reason_is_required(bot: BotHarness) -> None:
    item = bot.submit(workflow="replies-email", confidence=0.95)
    bot.message(item["id"])
    bot.click(item["id"], blocks.SPOT_WRONG, "U0MALLORY")
    bot.standin.wait_for(lambda s: bool(bot.ephemerals_to("U0MALLORY")))
    assert "can't judge" in bot.ephemerals_to("U0MALLORY")[0]
    assert bot.standin.calls_to("views.open") == []
    empty = bot.submit_view(blocks.SPOT_WRONG_CALLBACK, item["id"], "U0ALICE", {})
    assert empty.json()["errors"][blocks.REASON_BLOCK] == "Choose one of the reasons in the list."
    unknown = reject_values("not_a_reason")
    refused = bot.submit_view(blocks.SPOT_WRONG_CALLBACK, item["id"], "U0ALICE", unknown)
    assert refused.json()["response_action"] == "errors"
    assert spot_checks.spot_checks_of(bot.runtime.db, item["id"]) == []

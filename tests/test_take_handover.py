"""Take it / Hand over: the message says who is on an item, others can still decide, the
audit trail records it, and a hand-over DMs the item with its buttons to another person
who may decide it. Refusals are told to the person who clicked only. Signed clicks and
modal submissions over HTTP, through the stand-in, on SQLite and PostgreSQL."""

from pathlib import Path
from typing import Any

import pytest

from handlers import blocks
from handlers.queue_payloads import HAND_OVER_CALLBACK, HOME_APPROVE
from storage import audit
from tests.harness import BotHarness, actions_of, metadata_of

RULES = """\
timezone: UTC
routes:
  - name: invoices
    match: {workflow: ap-invoices}
    owner: {channel: C0APREVIEW, users: [U0ALICE, U0BOB]}
    escalation:
      - {after: 1h, to: [U0MANAGER], channel: C0ESC}
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


def hand_to(user: str | None) -> dict[str, Any]:
    """The hand-over modal's state as Slack submits it."""
    return {"hand_over_to": {"user": {"type": "users_select", "selected_user": user}}}


def actions_in_trail(bot: BotHarness, item_id: str) -> list[tuple[str, str]]:
    with bot.runtime.db.read() as session:
        return [(event.action, event.actor) for event in audit.trail(session, item_id)]


def reply_to_click(bot: BotHarness, item_id: str, action: str, user: str) -> str:
    """Clicks, and returns the ephemeral reply the click brought."""
    before = len(bot.ephemerals_to(user))
    assert bot.click(item_id, action, user).status_code == 200
    bot.standin.wait_for(lambda s: len(bot.ephemerals_to(user)) > before)
    return bot.ephemerals_to(user)[before]


def test_taking_shows_who_is_on_it_and_others_can_still_decide(bot: BotHarness) -> None:
    item = bot.submit()
    assert bot.click(item["id"], blocks.TAKE, "U0ALICE").status_code == 200
    bot.standin.wait_for(lambda s: "is on it since" in str(bot.message(item["id"])["blocks"]))
    message = bot.message(item["id"])
    assert "<@U0ALICE> is on it since" in str(message["blocks"])
    assert blocks.TAKE not in actions_of(message) and blocks.HAND_OVER in actions_of(message)
    assert ("taken", "U0ALICE") in actions_in_trail(bot, item["id"])
    assert bot.item(item["id"])["deadline"] == item["deadline"]  # escalation still runs

    assert bot.click(item["id"], blocks.APPROVE, "U0BOB").status_code == 200
    decided = bot.item(item["id"])
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0BOB"


def test_taking_twice_or_without_the_right_is_refused(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.TAKE, "U0ALICE")

    again = reply_to_click(bot, item["id"], blocks.TAKE, "U0ALICE")
    assert "You are already on this item" in again
    other = reply_to_click(bot, item["id"], blocks.TAKE, "U0BOB")
    assert "<@U0ALICE> is already on this item" in other and "Hand over" in other
    assert "You can't take this item" in reply_to_click(bot, item["id"], blocks.TAKE, "U0MALLORY")
    assert [a for a in actions_in_trail(bot, item["id"]) if a[0] == "taken"] == [
        ("taken", "U0ALICE")
    ]


def test_hand_over_dms_the_item_with_its_buttons(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.TAKE, "U0ALICE")
    assert bot.click(item["id"], blocks.HAND_OVER, "U0ALICE").status_code == 200
    bot.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    modal = bot.standin.calls_to("views.open")[-1].args["view"]
    assert modal["callback_id"] == HAND_OVER_CALLBACK

    response = bot.submit_view(HAND_OVER_CALLBACK, item["id"], "U0ALICE", hand_to("U0BOB"))
    assert response.status_code == 200 and not response.text  # the modal closes
    bot.standin.wait_for(lambda s: "<@U0BOB> is on it" in str(bot.message(item["id"])["blocks"]))
    assert ("handed_over", "U0ALICE") in actions_in_trail(bot, item["id"])

    def dm() -> tuple[tuple[str, str], dict[str, Any]] | None:
        for key, message in bot.standin.messages.items():
            if metadata_of(message).get("event_type") == "hitl_handover":
                return key, message
        return None

    bot.standin.wait_for(lambda s: dm() is not None)
    found = dm()
    assert found is not None
    (channel, ts), message = found
    assert channel == "D0BOB" and "<@U0ALICE> handed you this item" in str(message["blocks"])
    assert HOME_APPROVE in actions_of(message)

    assert bot.click(item["id"], HOME_APPROVE, "U0BOB", on=(channel, ts)).status_code == 200
    decided = bot.item(item["id"])
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0BOB"


def test_handing_to_someone_who_may_not_decide_is_refused(bot: BotHarness) -> None:
    item = bot.submit()
    response = bot.submit_view(HAND_OVER_CALLBACK, item["id"], "U0ALICE", hand_to("U0MALLORY"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "@U0MALLORY can't decide this item" in answer["errors"]["hand_over_to"]
    assert not [a for a in actions_in_trail(bot, item["id"]) if a[0] == "handed_over"]

    # Nor may someone who may not decide it hand it over.
    response = bot.submit_view(HAND_OVER_CALLBACK, item["id"], "U0MALLORY", hand_to("U0BOB"))
    assert "can't hand over this item" in response.json()["errors"]["hand_over_to"]
    bot.wait_posted(item["id"])
    assert not [
        m
        for m in bot.standin.messages.values()
        if metadata_of(m).get("event_type") == "hitl_handover"
    ]

"""The App Home: published when a person opens it, with exactly the items they may decide,
and published again when something in it changes (a new item, a decision, an escalation).
Signed events over HTTP, through the Slack stand-in, on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import col

from handlers.queue_payloads import HOME_APPROVE, HOME_PAGE
from storage.models import EscalationStepRow, StepStatus
from tests.harness import SIGNING_SECRET, BotHarness, make_settings
from tests.slack_payloads import (
    app_home_opened,
    event_callback,
    home_block_actions,
    post_event,
    post_interaction,
)
from tests.slack_standin import SlackStandIn

QUEUE_RULES = """\
timezone: UTC
routes:
  - name: invoices
    match: {workflow: ap-invoices}
    owner: {channel: C0APREVIEW, users: [U0ALICE, U0BOB]}
    escalation:
      - {after: 1h, to: [U0MANAGER], channel: C0ESC}
  - name: payments
    match: {workflow: payments}
    owner: {channel: C0PAYMENTS, users: [U0CAROL]}
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(QUEUE_RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}


def open_home(bot: BotHarness, user: str) -> None:
    response = post_event(
        f"{bot.url}/slack/events", event_callback(app_home_opened(user)), SIGNING_SECRET
    )
    assert response.status_code == 200, response.text


def home_items(view: dict[str, Any] | None) -> list[str]:
    """The items a Home offers to decide, in order (the value of each Approve button)."""
    if view is None:
        return []
    return [
        element["value"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == HOME_APPROVE
    ]


def wait_home(bot: BotHarness, user: str, items: list[str]) -> dict[str, Any]:
    """Waits until `user`'s published Home offers exactly `items`, in that order."""
    bot.standin.wait_for(
        lambda s: s.home_view(user) is not None and home_items(s.home_view(user)) == items,
        timeout=30,
    )
    view = bot.standin.home_view(user)
    assert view is not None
    return view


def text_of(view: dict[str, Any]) -> str:
    return str(view["blocks"])


def test_home_on_open_shows_exactly_what_the_person_may_decide(bot: BotHarness) -> None:
    invoice = bot.submit(title="Invoice 1")
    payment = bot.submit(workflow="payments", title="Payment 1")
    bot.wait_posted(invoice["id"])

    open_home(bot, "U0ALICE")
    view = wait_home(bot, "U0ALICE", [invoice["id"]])
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "Waiting for you: 1" in text_of(view)
    assert "/archives/C0APREVIEW/p" in text_of(view)  # a link to the item's message

    open_home(bot, "U0CAROL")
    wait_home(bot, "U0CAROL", [payment["id"]])

    # Someone no route names may decide nothing: the Home shows neither item.
    open_home(bot, "U0MALLORY")
    bot.standin.wait_for(lambda s: s.home_view("U0MALLORY") is not None)
    mallory = bot.standin.home_view("U0MALLORY")
    assert mallory is not None and home_items(mallory) == []
    assert "Invoice 1" not in text_of(mallory) and "Payment 1" not in text_of(mallory)
    # Only people who opened their Home have one published.
    assert bot.standin.home_view("U0BOB") is None


def test_home_follows_new_items_decisions_and_escalations(bot: BotHarness) -> None:
    first = bot.submit(title="First")
    open_home(bot, "U0ALICE")
    open_home(bot, "U0MANAGER")
    wait_home(bot, "U0ALICE", [first["id"]])
    wait_home(bot, "U0MANAGER", [])

    second = bot.submit(title="Second")  # a new item: refreshed without opening again
    wait_home(bot, "U0ALICE", [first["id"], second["id"]])

    assert bot.click(first["id"], "approve", "U0ALICE").status_code == 200
    wait_home(bot, "U0ALICE", [second["id"]])
    bot.standin.wait_for(
        lambda s: "Decided by you in the last 7 days: 1" in text_of(s.home_view("U0ALICE") or {})
    )
    assert "First" in text_of(bot.standin.home_view("U0ALICE") or {})

    # The escalation asks the manager, whose Home now offers the item, marked escalated.
    with bot.runtime.db.write() as session:
        session.execute(
            update(EscalationStepRow)
            .where(col(EscalationStepRow.item_id) == second["id"])
            .where(col(EscalationStepRow.status) == StepStatus.PENDING)
            .values(due_at=datetime.now(UTC))
        )
    manager = wait_home(bot, "U0MANAGER", [second["id"]])
    assert "escalated to you" in text_of(manager)


def test_a_decision_from_the_home_counts_like_one_from_the_message(bot: BotHarness) -> None:
    item = bot.submit()
    bot.wait_posted(item["id"])
    open_home(bot, "U0BOB")
    view = wait_home(bot, "U0BOB", [item["id"]])

    # Someone who may not decide it cannot approve it by forging a Home click.
    forged = home_block_actions(
        user_id="U0MALLORY",
        action_id=HOME_APPROVE,
        value=item["id"],
        trigger_id=bot.standin.new_trigger_id(),
    )
    assert post_interaction(f"{bot.url}/slack/events", forged, SIGNING_SECRET).status_code == 200
    assert bot.item(item["id"])["status"] == "pending"

    click = home_block_actions(
        user_id="U0BOB",
        action_id=HOME_APPROVE,
        value=item["id"],
        trigger_id=bot.standin.new_trigger_id(),
        view=view,
    )
    assert post_interaction(f"{bot.url}/slack/events", click, SIGNING_SECRET).status_code == 200
    decided = bot.item(item["id"])
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0BOB"
    wait_home(bot, "U0BOB", [])


def test_a_long_queue_pages_within_the_home_limit(bot: BotHarness) -> None:
    items = [bot.submit(title=f"Invoice {n}", external_id=f"inv-{n}")["id"] for n in range(45)]
    open_home(bot, "U0ALICE")
    view = wait_home(bot, "U0ALICE", items[:20])
    assert "20 of 45" in text_of(view)

    more = home_block_actions(
        user_id="U0ALICE",
        action_id=HOME_PAGE,
        value="0:40",
        trigger_id=bot.standin.new_trigger_id(),
        view=view,
    )
    assert post_interaction(f"{bot.url}/slack/events", more, SIGNING_SECRET).status_code == 200
    view = wait_home(bot, "U0ALICE", items[:40])  # the stand-in refuses more than 100 blocks
    assert "40 of 45" in text_of(view) and "Next 40" in text_of(view)
    assert len(view["blocks"]) <= 100


def test_home_opened_over_socket_mode(
    database_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    settings = make_settings(
        database_url, standin, rules_path, slack_app_token=standin.app_token,
        slack_signing_secret=None,
    )  # fmt: skip
    bot = BotHarness(settings, standin)
    bot.start()
    try:
        standin.wait_for(lambda s: s.socket_connected, timeout=10)
        item = bot.submit()
        envelope = standin.send_socket_envelope(
            "events_api", event_callback(app_home_opened("U0BOB"))
        )
        standin.wait_socket_ack(envelope, timeout=10)
        wait_home(bot, "U0BOB", [item["id"]])
    finally:
        bot.stop()


def test_the_stand_in_refuses_a_home_slack_would_refuse(standin: SlackStandIn) -> None:
    """Guards the tests above: a Home over 100 blocks, or with a modal's submit, fails."""
    client = WebClient(token=standin.bot_token, base_url=standin.url)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    for view in (
        {"type": "home", "blocks": [section] * 101},
        {"type": "home", "blocks": [section], "submit": {"type": "plain_text", "text": "Go"}},
    ):
        with pytest.raises(SlackApiError) as refused:
            client.views_publish(user_id="U0ALICE", view=view)
        assert refused.value.response["error"] == "invalid_arguments"
    assert standin.home_view("U0ALICE") is None
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [section]})
    assert standin.home_view("U0ALICE") is not None

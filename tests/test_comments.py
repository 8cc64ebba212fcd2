"""The discussion about an item: replies in the thread of its message (or of an escalation
message) are comments on the item, in GET /v1/reviews/{id}, in the callback and in the
audit trail. Bots' messages are not comments; edits and deletions are followed. Signed
`message` events over HTTP, through the stand-in, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from storage import audit
from storage.models import EscalationStepRow, StepStatus
from tests.callback_receiver import CallbackReceiver
from tests.harness import SIGNING_SECRET, BotHarness
from tests.slack_payloads import (
    bot_thread_reply,
    event_callback,
    post_event,
    reply_changed,
    reply_deleted,
    thread_reply,
)

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


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    try:
        yield server
    finally:
        server.stop()


def send(bot: BotHarness, event: dict[str, Any]) -> None:
    response = post_event(f"{bot.url}/slack/events", event_callback(event), SIGNING_SECRET)
    assert response.status_code == 200, response.text


def comments(bot: BotHarness, item_id: str) -> list[dict[str, Any]]:
    return list(bot.item(item_id)["comments"])


def shown(bot: BotHarness, item_id: str) -> list[tuple[str, str, bool]]:
    return [(c["user"], c["text"], c["edited"]) for c in comments(bot, item_id)]


def wait_shown(bot: BotHarness, item_id: str, expected: list[tuple[str, str, bool]]) -> None:
    """Events are acknowledged before they are handled: waits for the API to show them."""
    bot.standin.wait_for(lambda s: shown(bot, item_id) == expected, timeout=30)


def test_thread_replies_become_comments_in_the_api_and_the_callback(
    bot: BotHarness, receiver: CallbackReceiver
) -> None:
    item = bot.submit(callback_url=receiver.url)
    channel, ts = bot.wait_posted(item["id"])

    reply = thread_reply(user_id="U0BOB", channel=channel, thread_ts=ts, text="Amount is off?")
    send(bot, reply)
    send(bot, reply)  # Slack may deliver an event twice: one comment
    send(bot, bot_thread_reply(channel=channel, thread_ts=ts, text=":bell: Reminder"))
    send(bot, thread_reply(user_id="U0BOB", channel=channel, thread_ts="1.000001", text="x"))
    send(bot, {**thread_reply(user_id="U0BOB", channel=channel, thread_ts=ts, text="y"),
               "thread_ts": None})  # fmt: skip
    second = thread_reply(user_id="U0ALICE", channel=channel, thread_ts=ts, text="Checking")
    send(bot, second)

    wait_shown(
        bot, item["id"], [("U0BOB", "Amount is off?", False), ("U0ALICE", "Checking", False)]
    )
    assert comments(bot, item["id"])[0]["at"].endswith("Z")

    send(bot, reply_changed(reply, "Amount is off by one zero"))
    send(bot, reply_deleted(second))
    wait_shown(bot, item["id"], [("U0BOB", "Amount is off by one zero", True)])
    with bot.runtime.db.read() as session:
        trail = [event.action for event in audit.trail(session, item["id"])]
    assert trail.count("commented") == 2
    assert "comment_edited" in trail and "comment_deleted" in trail

    assert bot.click(item["id"], "approve", "U0ALICE").status_code == 200
    bot.standin.wait_for(lambda s: bool(receiver.successful()), timeout=30)
    sent = receiver.successful()[0].json
    assert [(c["user"], c["text"]) for c in sent["comments"]] == [
        ("U0BOB", "Amount is off by one zero")
    ]


def test_replies_to_an_escalation_message_count_too(bot: BotHarness) -> None:
    item = bot.submit()
    bot.wait_posted(item["id"])
    with bot.runtime.db.write() as session:
        session.execute(
            update(EscalationStepRow)
            .where(col(EscalationStepRow.item_id) == item["id"])
            .where(col(EscalationStepRow.status) == StepStatus.PENDING)
            .values(due_at=datetime.now(UTC))
        )
    bot.standin.wait_for(lambda s: bool(bot.escalation_messages(item["id"])), timeout=30)
    (channel, ts), _message = bot.escalation_messages(item["id"])[0]
    bot.wait_recorded(channel, ts)
    send(bot, thread_reply(user_id="U0MANAGER", channel=channel, thread_ts=ts, text="On it"))
    wait_shown(bot, item["id"], [("U0MANAGER", "On it", False)])

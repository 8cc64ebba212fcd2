"""Fair delivery: Slack's limits are kept per method and channel, one channel's backlog
never holds back another, and hung callbacks never take the slots Slack posts need."""

from collections.abc import Iterator

import pytest

from handlers import blocks
from storage import outbox
from storage.db import Database
from tests.callback_receiver import CallbackReceiver
from tests.harness import BotHarness


@pytest.fixture
def hanging_receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    server.hang_seconds = 30
    yield server
    server.stop()


def posted_to(bot: BotHarness, channel: str) -> int:
    return sum(
        1 for call in bot.standin.calls_to("chat.postMessage") if call.args["channel"] == channel
    )


def test_a_rate_limited_channel_with_a_backlog_does_not_hold_back_another(
    bot: BotHarness,
) -> None:
    # Slack answers every post to C0APREVIEW with 429 Retry-After: 1 (a channel over its limit).
    bot.standin.rate_limit_channel("C0APREVIEW", retry_after=1)
    backlog = [bot.submit(external_id=f"busy-{n}")["id"] for n in range(60)]
    bot.standin.wait_for(lambda s: bool(s.calls_to("chat.postMessage", ok=False)), timeout=30)
    other = bot.submit(workflow="open-reports", external_id="other")
    bot.wait_posted(other["id"], timeout=30)
    # The other channel got through while the busy one's backlog is still waiting.
    assert posted_to(bot, "C0APREVIEW") == 0
    rows = outbox.rows_for_item(Database(bot.settings.database_url), backlog[-1])
    assert [row.status for row in rows] == ["pending"]


def test_a_long_retry_after_on_one_channels_update_does_not_stop_posts_elsewhere(
    bot: BotHarness,
) -> None:
    first = bot.submit(external_id="first")
    bot.wait_posted(first["id"])
    bot.standin.rate_limit_channel("C0APREVIEW", retry_after=300, methods={"chat.update"})
    bot.click(first["id"], blocks.APPROVE, "U0ALICE")
    bot.standin.wait_for(lambda s: bool(s.calls_to("chat.update", ok=False)), timeout=30)
    elsewhere = bot.submit(workflow="open-reports", external_id="elsewhere")
    same_channel = bot.submit(external_id="same-channel")
    bot.wait_posted(elsewhere["id"], timeout=30)
    bot.wait_posted(same_channel["id"], timeout=30)  # posting there is not chat.update
    # The update waits out its 300 s: it was tried once, not again.
    assert len(bot.standin.calls_to("chat.update", ok=None)) == 1


def test_hung_callback_receivers_do_not_take_the_slots_slack_posts_need(
    bot: BotHarness, hanging_receiver: CallbackReceiver
) -> None:
    items = [
        bot.submit(external_id=f"cb-{n}", callback_url=hanging_receiver.url)["id"]
        for n in range(12)
    ]
    for item_id in items:
        bot.wait_posted(item_id, timeout=30)
        assert bot.api("POST", f"/v1/reviews/{item_id}/cancel").status_code == 200
    bot.standin.wait_for(lambda s: hanging_receiver.hanging >= 8, timeout=30)
    reviewer_item = bot.submit(workflow="open-reports", external_id="next-reviewer")
    bot.wait_posted(reviewer_item["id"], timeout=30)
    # Posted while every callback attempt so far is still hanging: none had to time out
    # to free a slot for it.
    db = Database(bot.settings.database_url)
    try:
        callbacks = [
            row
            for item_id in items
            for row in outbox.rows_for_item(db, item_id)
            if row.kind == "callback"
        ]
    finally:
        db.dispose()
    assert callbacks and all(row.last_error is None for row in callbacks)

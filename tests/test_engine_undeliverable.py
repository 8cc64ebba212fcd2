"""A Slack error that waiting cannot clear makes the item visibly undeliverable: the API
shows it, the agent's callback says so and people are alerted at once."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules import RulesError
from rules.loader import load_rules
from tests.callback_receiver import CallbackReceiver
from tests.harness import RULES, BotHarness, metadata_of

ALERTING_RULES = (
    RULES
    + """\
  - name: chained
    match: {workflow: chained}
    owner: {channel: C0GONE}
    escalation:
      - {after: 1h, to: [U0MANAGER]}
"""
).replace("timezone: Europe/Berlin\n", "timezone: Europe/Berlin\nalerts: {channel: C0ALERTS}\n")


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(ALERTING_RULES)
    return path


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def alerts_about(bot: BotHarness, item_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (channel, message)
        for (channel, _ts), message in bot.standin.messages.items()
        if metadata_of(message).get("event_type") == "hitl_alert"
        and metadata_of(message).get("event_payload", {}).get("item_id") == item_id
    ]


def test_channel_not_found_shows_in_the_api_the_callback_and_the_alerts_channel(
    bot: BotHarness, receiver: CallbackReceiver
) -> None:
    bot.standin.error_next(1, "channel_not_found", methods={"chat.postMessage"})
    item = bot.submit(callback_url=receiver.url)
    assert item["delivery"] == {"status": "pending", "error": None, "at": None}
    bot.standin.wait_for(lambda s: bool(alerts_about(bot, item["id"])), timeout=30)
    [(channel, alert)] = alerts_about(bot, item["id"])
    assert channel == "C0ALERTS"
    assert "channel_not_found" in alert["text"] and item["id"] in alert["text"]
    shown = bot.item(item["id"])
    assert shown["status"] == "pending"
    assert shown["delivery"]["status"] == "failed"
    assert shown["delivery"]["error"] == "channel_not_found" and shown["delivery"]["at"]
    bot.standin.wait_for(lambda s: bool(receiver.successful()), timeout=30)
    told = receiver.successful()[0].json
    assert told["id"] == item["id"] and told["status"] == "pending"
    assert told["delivery"]["status"] == "failed"
    assert told["delivery"]["error"] == "channel_not_found"


def test_the_routes_escalation_people_are_told_by_direct_message(bot: BotHarness) -> None:
    bot.standin.error_next(1, "is_archived", methods={"chat.postMessage"})
    item = bot.submit(workflow="chained")
    bot.standin.wait_for(lambda s: bool(alerts_about(bot, item["id"])), timeout=30)
    [(channel, alert)] = alerts_about(bot, item["id"])
    assert channel == "D0MANAGER"  # the DM with the first escalation step's person
    assert "is_archived" in alert["text"]
    assert bot.item(item["id"])["delivery"]["error"] == "is_archived"


def test_a_posted_item_says_posted(bot: BotHarness) -> None:
    item = bot.submit()
    bot.wait_posted(item["id"])
    bot.standin.wait_for(
        lambda s: bot.item(item["id"])["delivery"]["status"] == "posted", timeout=10
    )


def test_alerts_key_is_checked_like_every_other_key(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "alerts:\n  channel: alerts\n  drift: maybe\n  colour: red\n"
        "routes:\n  - name: a\n    match: {workflow: x}\n    owner: {channel: C0A}\n"
    )
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert "2:12: alerts.channel" in message
    assert "3:10: alerts.drift" in message
    assert "alerts.colour: unknown key" in message


def test_alerts_channel_defaults_to_the_digest_channel(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "digest: {channel: C0DIGEST}\n"
        "routes:\n  - name: a\n    match: {workflow: x}\n    owner: {channel: C0A}\n"
    )
    rules = load_rules(path).rules
    assert rules.alerts_channel == "C0DIGEST" and rules.alerts.drift is True

"""`/hitl`: an ephemeral summary of what waits for the person (count, the first five with
links and deadlines), and `/hitl help`, for words it does not know too. Over HTTP and in
Socket Mode, signed like Slack's, through the stand-in, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import SIGNING_SECRET, BotHarness, make_settings
from tests.slack_payloads import post_slash_command, slash_command
from tests.slack_standin import SlackStandIn


@pytest.fixture(params=["http", "socket_mode"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def running(
    database_url: str, standin: SlackStandIn, rules_path: Path, mode: str
) -> Iterator[BotHarness]:
    extra = {}
    if mode == "socket_mode":
        extra = {"slack_app_token": standin.app_token, "slack_signing_secret": None}
    harness = BotHarness(make_settings(database_url, standin, rules_path, **extra), standin)
    harness.start()
    try:
        if mode == "socket_mode":
            standin.wait_for(lambda s: s.socket_connected, timeout=10)
        yield harness
    finally:
        harness.stop()


def hitl(bot: BotHarness, mode: str, user: str, text: str = "") -> dict[str, Any]:
    """Runs `/hitl text` as `user`; returns the ephemeral answer Slack received."""
    url = bot.standin.response_url()
    fields = slash_command(
        command="/hitl", text=text, user_id=user, channel_id="C0RANDOM", response_url=url
    )
    if mode == "http":
        response = post_slash_command(f"{bot.url}/slack/events", fields, SIGNING_SECRET)
        assert response.status_code == 200, response.text
    else:
        envelope = bot.standin.send_socket_envelope("slash_commands", dict(fields))
        bot.standin.wait_socket_ack(envelope, timeout=10)
    bot.standin.wait_for(lambda s: bool(s.calls_to("response_url")), timeout=30)
    # Each test runs one command: the one answer through a response URL is its answer.
    answer = bot.standin.calls_to("response_url")[0].args
    assert answer["response_type"] == "ephemeral"
    return answer


def test_hitl_sums_up_what_waits_for_the_person(running: BotHarness, mode: str) -> None:
    items = [running.submit(title=f"Invoice {n}", external_id=f"inv-{n}")["id"] for n in range(7)]
    running.submit(workflow="payments", title="A payment", output="x")  # ALICE, BOB, CAROL
    for item_id in items:
        running.wait_posted(item_id)

    answer = hitl(running, mode, "U0ALICE")
    text = str(answer["blocks"])
    assert "8 items wait for you" in answer["text"]
    assert "the first five" in text
    assert text.count("/archives/C0APREVIEW/p") == 5  # five of them, each with its link
    assert "Invoice 0" in text and "Invoice 5" not in text  # the oldest first


def test_hitl_for_someone_with_nothing_to_decide(running: BotHarness, mode: str) -> None:
    running.submit()
    answer = hitl(running, mode, "U0MALLORY")
    assert "Nothing waits for you" in answer["text"]
    assert "Invoice" not in str(answer["blocks"])


@pytest.mark.parametrize("text", ["help", "frobnicate now"])
def test_hitl_help_and_unknown_words(running: BotHarness, mode: str, text: str) -> None:
    answer = hitl(running, mode, "U0ALICE", text)
    shown = str(answer["blocks"])
    assert "`/hitl help`" in shown and "Home" in shown
    if text != "help":
        assert "no `/hitl frobnicate`" in shown

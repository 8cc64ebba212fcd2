"""Failures between the agent and hitl: 5xx answers and lost answers are retried without
duplicating anything, and a wait outlives a restart of the server."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from flaky_upstream import FlakyUpstream
from reviewer import Reviewer, approve
from tests.harness import AGENT_TOKEN, BotHarness, make_settings
from tests.processes import free_port
from tests.slack_standin import SlackStandIn

from hitl_client import ApiError, Client, Review


class Ask(TypedDict):
    """`Client.submit`'s required arguments, passed as `**ASK`."""

    workflow: str
    title: str
    output: str
    confidence: float


ASK: Ask = {
    "workflow": "ap-invoices",
    "title": "Invoice 4471 from ACME",
    "output": "Booked to account 6300.",
    "confidence": 0.62,
}


@pytest.fixture
def upstream(bot: BotHarness) -> Iterator[FlakyUpstream]:
    server = FlakyUpstream(bot.url).start()
    yield server
    server.stop()


def _client(url: str, retries: int = 5) -> Client:
    return Client(url, token=AGENT_TOKEN, retries=retries, backoff=0.05, max_backoff=0.2)


def test_5xx_answers_are_retried_until_hitl_answers(
    bot: BotHarness, upstream: FlakyUpstream
) -> None:
    upstream.fail_next = 3
    with _client(upstream.url) as client:
        item = client.submit(**ASK)
    assert [status for _, _, status in upstream.seen] == [503, 503, 503, 201]
    assert bot.item(item.id)["status"] == "pending"


def test_5xx_past_the_retries_raise_api_error_with_the_answer(
    bot: BotHarness, upstream: FlakyUpstream
) -> None:
    upstream.fail_next = 10
    with _client(upstream.url, retries=2) as client, pytest.raises(ApiError) as failed:
        client.submit(**ASK)
    assert (failed.value.status, failed.value.error) == (503, "bad_gateway")
    assert len(upstream.seen) == 3  # the call and its two retries
    assert bot.api("GET", "/v1/reviews").json()["items"] == []


def test_a_submit_whose_answer_was_lost_is_retried_into_the_same_item(
    bot: BotHarness, upstream: FlakyUpstream
) -> None:
    upstream.drop_next = 1  # hitl creates the item; the answer never reaches the agent
    with _client(upstream.url) as client:
        item = client.submit(**ASK)
    assert [status for _, _, status in upstream.seen] == [0, 200]
    listed = bot.api("GET", "/v1/reviews").json()["items"]
    assert [entry["id"] for entry in listed] == [item.id]
    assert item.external_id and item.external_id.startswith("hitl-client-")
    bot.wait_delivered(item.id)
    assert len(bot.posts_of(item.id)) == 1


def test_a_wait_outlives_a_restart_of_hitl(
    database_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    settings = make_settings(database_url, standin, rules_path, port=free_port())
    first = BotHarness(settings, standin).start()
    client = _client(first.url)
    item = client.submit(**ASK)
    outcome: list[Review | BaseException] = []

    def wait() -> None:
        try:
            outcome.append(client.wait(item.id, timeout=120))
        except BaseException as error:
            outcome.append(error)

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    # The client's long-poll is being held by the server when it goes down.
    standin.wait_for(lambda s: item.id in first.runtime.signals._waiters)
    first.stop()
    second = BotHarness(settings, standin).start()
    try:
        reviewer = Reviewer(second, approve)
        waiting.join(timeout=90)
        reviewer.done()
        assert len(outcome) == 1 and isinstance(outcome[0], Review), outcome
        assert outcome[0].id == item.id and outcome[0].status == "approved"
    finally:
        client.close()
        second.stop()

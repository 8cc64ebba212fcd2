"""The blocking and asyncio clients against a real hitl and the Slack stand-in: an agent
asks, a person clicks in Slack, the agent's call returns the decision."""

import asyncio
from collections.abc import Iterator

import pytest
from reviewer import Reviewer, approve, edit_text, reject
from tests.callback_receiver import CallbackReceiver
from tests.harness import OTHER_AGENT_TOKEN, WEBHOOK_SECRET, BotHarness

from hitl_client import ApiError, AsyncClient, Client, InvalidSignature, WaitTimeout
from hitl_client import verify_callback as verify

OUTPUT = "Booked to account 6300, cost centre 41, due 2026-12-01."


def _ask(**extra: object) -> dict:
    return {
        "workflow": "ap-invoices",
        "title": "Invoice 4471 from ACME",
        "output": OUTPUT,
        "confidence": 0.62,
        **extra,
    }


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def test_review_returns_once_a_click_in_slack_approves(bot: BotHarness, hitl: Client) -> None:
    reviewer = Reviewer(bot, approve)
    review = hitl.review(**_ask(), timeout=60)
    assert review.id == reviewer.done()
    assert review.approved and review.status == "approved"
    assert review.final_output == OUTPUT and review.decision is not None
    assert review.decision.by == "U0ALICE" and review.changes == []


def test_an_edit_returns_the_edited_output(bot: BotHarness, hitl: Client) -> None:
    edited = "Booked to account 6310, cost centre 41, due 2026-12-01."
    reviewer = Reviewer(bot, edit_text(edited))
    review = hitl.review(**_ask(), timeout=60)
    reviewer.done()
    assert review.approved and review.status == "edited"
    assert review.final_output == edited and review.output == OUTPUT


def test_a_rejection_comes_back_with_its_reason_and_note(bot: BotHarness, hitl: Client) -> None:
    reviewer = Reviewer(bot, reject("wrong_amount", "It is 1,240 EUR."))
    review = hitl.review(**_ask(), timeout=60)
    reviewer.done()
    assert not review.approved and review.status == "rejected"
    assert review.decision is not None
    assert (review.decision.reason, review.decision.note) == ("wrong_amount", "It is 1,240 EUR.")


def test_an_item_nobody_decides_expires(bot: BotHarness, hitl: Client) -> None:
    review = hitl.review(**_ask(workflow="expiring-invoices"), timeout=60)
    assert review.status == "expired" and not review.approved


def test_wait_past_the_timeout_raises_wait_timeout_and_loses_nothing(
    bot: BotHarness, hitl: Client
) -> None:
    item = hitl.submit(**_ask())
    with pytest.raises(WaitTimeout) as timed_out:
        hitl.wait(item.id, timeout=0.5)
    assert timed_out.value.review.id == item.id and timed_out.value.review.pending
    reviewer = Reviewer(bot, approve)
    assert hitl.wait(item.id, timeout=60).status == "approved"
    reviewer.done()


def test_api_errors_carry_the_servers_error_shape(bot: BotHarness, hitl: Client) -> None:
    with pytest.raises(ApiError) as bad:
        hitl.submit(**_ask(confidence=1.5))
    assert (bad.value.status, bad.value.error) == (422, "invalid_request")
    assert [error["field"] for error in bad.value.errors] == ["confidence"]
    with pytest.raises(ApiError) as missing:
        hitl.get("rv_nothing_like_this")
    assert (missing.value.status, missing.value.error) == (404, "not_found")
    with (
        Client(bot.url, token="not-a-token-of-this-hitl") as stranger,
        pytest.raises(ApiError) as refused,
    ):
        stranger.list()
    assert (refused.value.status, refused.value.error) == (401, "unauthorized")
    assert refused.value.message


def test_url_and_token_come_from_the_environment(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HITL_URL", bot.url)
    monkeypatch.setenv("HITL_TOKEN", OTHER_AGENT_TOKEN)
    with Client() as client:
        item = client.submit(**_ask())
    assert item.agent == "other-bot"
    monkeypatch.delenv("HITL_TOKEN")
    with pytest.raises(ValueError, match="HITL_TOKEN"):
        Client()


def test_cancel_and_list(bot: BotHarness, hitl: Client) -> None:
    first = hitl.submit(**_ask(title="first"))
    second = hitl.submit(**_ask(title="second"))
    third = hitl.submit(**_ask(title="third"))
    cancelled = hitl.cancel(second.id, reason="paid elsewhere")
    assert cancelled.status == "cancelled" and cancelled.decision is not None
    assert cancelled.decision.note == "paid elsewhere"
    page = hitl.list(limit=2)
    assert [item.id for item in page.items] == [third.id, second.id]
    assert page.next_cursor is not None
    rest = hitl.list(limit=2, cursor=page.next_cursor)
    assert [item.id for item in rest.items] == [first.id] and rest.next_cursor is None
    assert [item.id for item in hitl.list(status="pending").items] == [third.id, first.id]


def test_verify_callback_accepts_a_real_callback_and_refuses_a_tampered_one(
    bot: BotHarness, hitl: Client, receiver: CallbackReceiver
) -> None:
    reviewer = Reviewer(bot, approve)
    review = hitl.review(**_ask(callback_url=receiver.url), timeout=60)
    reviewer.done()
    bot.standin.wait_for(lambda s: bool(receiver.successful()))
    delivery = receiver.successful()[0]
    called = verify(delivery.body, delivery.headers, WEBHOOK_SECRET)
    assert called.id == review.id and called.status == "approved"
    assert called.final_output == OUTPUT
    tampered = delivery.body.replace(b'"approved"', b'"rejected"', 1)
    with pytest.raises(InvalidSignature):
        verify(tampered, delivery.headers, WEBHOOK_SECRET)
    with pytest.raises(InvalidSignature):
        verify(delivery.body, delivery.headers, "whsec_" + "A" * 32)
    with pytest.raises(InvalidSignature):
        verify(delivery.body, {"content-type": "application/json"}, WEBHOOK_SECRET)


def test_the_async_client_reviews_too(bot: BotHarness, async_hitl: AsyncClient) -> None:
    reviewer = Reviewer(bot, edit_text("Booked to account 6399."))

    async def ask() -> object:
        async with async_hitl as client:
            return await client.review(**_ask(), timeout=60)

    review = asyncio.run(ask())
    reviewer.done()
    assert getattr(review, "final_output", None) == "Booked to account 6399."

"""`require_review`: the call's arguments go to Slack as a form; the function runs with
what the reviewer approved, or not at all."""

import asyncio
import re
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import pytest
from reviewer import Reviewer, approve, edit_fields, reject
from tests.harness import BotHarness

from hitl_client import AsyncClient, Client, Expired, Rejected, UnsupportedSignature, require_review


def _modal_state(order: str, amount: str, currency_index: int, notify: bool, due: str) -> dict:
    """Slack's state of the structured Edit modal: one `field_<i>` input per argument."""
    yes = {"value": "true", "text": {"type": "plain_text", "text": "Yes"}}
    chosen = {"value": str(currency_index), "text": {"type": "plain_text", "text": "x"}}
    return {
        "field_0": {"value": {"type": "plain_text_input", "value": order}},
        "field_1": {"value": {"type": "number_input", "value": amount}},
        "field_2": {"value": {"type": "static_select", "selected_option": chosen}},
        "field_3": {"value": {"type": "checkboxes", "selected_options": [yes] if notify else []}},
        "field_4": {"value": {"type": "datepicker", "selected_date": due}},
    }


def test_a_sync_function_runs_with_the_edited_arguments(bot: BotHarness, hitl: Client) -> None:
    ran: list[tuple[Any, ...]] = []

    @require_review(hitl, workflow="open-refunds", confidence=lambda order_id, **_: 0.7)
    def refund(
        order_id: str,
        amount: float,
        currency: Literal["EUR", "USD"] = "EUR",
        notify: bool = True,
        due: date | None = None,
    ) -> str:
        ran.append((order_id, amount, currency, notify, due))
        return f"refunded {amount} {currency}"

    reviewer = Reviewer(bot, edit_fields(_modal_state("8812", "4", 1, False, "2026-12-24")))
    assert refund("8812", 40.0, due=date(2026, 12, 1)) == "refunded 4.0 USD"
    item = bot.item(reviewer.done())
    assert ran == [("8812", 4.0, "USD", False, date(2026, 12, 24))]
    assert isinstance(ran[0][1], float)
    assert item["status"] == "edited" and item["confidence"] == 0.7
    assert item["output"] == {
        "order_id": "8812",
        "amount": 40.0,
        "currency": "EUR",
        "notify": True,
        "due": "2026-12-01",
    }
    assert item["output_schema"]["properties"]["currency"] == {"enum": ["EUR", "USD"]}
    assert item["output_schema"]["required"] == ["order_id", "amount"]
    assert {"field": "amount", "from": 40.0, "to": 4.0} in item["decision"]["changes"]


def test_an_async_function_runs_with_the_approved_arguments(
    bot: BotHarness, async_hitl: AsyncClient
) -> None:
    @require_review(async_hitl, workflow="open-refunds", title="Refund {order_id}")
    async def refund(order_id: str, amount: float) -> tuple[str, float]:
        await asyncio.sleep(0)
        return order_id, amount

    reviewer = Reviewer(bot, approve)
    assert asyncio.run(refund("8812", amount=12.5)) == ("8812", 12.5)
    assert bot.item(reviewer.done())["status"] == "approved"


def test_a_rejection_raises_rejected_and_the_function_never_runs(
    bot: BotHarness, hitl: Client
) -> None:
    ran: list[str] = []

    @require_review(hitl, workflow="ap-invoices")
    def book(invoice: str, account: int) -> None:
        ran.append(invoice)

    reviewer = Reviewer(bot, reject("wrong_amount", "Account 6300 is closed."))
    with pytest.raises(Rejected) as rejected:
        book("4471", 6300)
    reviewer.done()
    assert (rejected.value.reason, rejected.value.note) == (
        "wrong_amount",
        "Account 6300 is closed.",
    )
    assert ran == []


def test_an_expiry_raises_expired(bot: BotHarness, hitl: Client) -> None:
    @require_review(hitl, workflow="expiring-payments")
    def pay(invoice: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(Expired):
        pay("4471")


def test_a_blocking_client_serves_an_async_function(bot: BotHarness, hitl: Client) -> None:
    @require_review(hitl, workflow="open-refunds")
    async def refund(order_id: str) -> str:
        return order_id

    reviewer = Reviewer(bot, approve)
    assert asyncio.run(refund("8812")) == "8812"
    reviewer.done()


def test_arguments_that_cannot_be_a_form_are_refused_when_decorating() -> None:
    hitl = Client("http://127.0.0.1:9", token="unused: nothing is sent")

    def nested(order: dict) -> None: ...
    def untyped(order) -> None: ...
    def star(*orders: str) -> None: ...
    def numbers(level: Literal[1, 2]) -> None: ...

    cases: list[tuple[Callable[..., None], str]] = [
        (nested, "nested(order): dict cannot be reviewed"),
        (untyped, "needs a type hint"),
        (star, "*args and **kwargs"),
        (numbers, "Literal may hold strings only"),
    ]
    for function, says in cases:
        with pytest.raises(UnsupportedSignature, match=re.escape(says)):
            require_review(hitl, workflow="open-x")(function)


def test_a_sync_function_with_an_async_client_is_refused() -> None:
    def refund(order_id: str) -> None: ...

    with pytest.raises(UnsupportedSignature, match=re.escape("use hitl_client.Client")):
        require_review(AsyncClient("http://127.0.0.1:9", token="unused"), workflow="x")(refund)

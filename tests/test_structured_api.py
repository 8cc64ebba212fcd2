"""Structured items at the agent API (issue 11): an object `output` with its schema is
stored and returned as sent, every refusal is a 422 naming the field with nothing stored
or posted, and text items answer exactly as before."""

from typing import Any

import pytest
from sqlmodel import func, select

from storage.models import OutboxMessage, ReviewItem
from tests.harness import BotHarness

REFUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "amount", "currency"],
    "properties": {
        "order_id": {"type": "string", "title": "Order"},
        "amount": {"type": "number", "minimum": 0, "maximum": 500},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "notify_customer": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 500, "format": "multiline"},
    },
}
REFUND: dict[str, Any] = {
    "order_id": "8812",
    "amount": 40.0,
    "currency": "EUR",
    "notify_customer": True,
}


def refund(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow": "ap-invoices",
        "title": "Refund order 8812",
        "confidence": 0.71,
        "output": dict(REFUND),
        "output_schema": REFUND_SCHEMA,
    }
    body.update(overrides)
    return body


def _count(bot: BotHarness, table: type) -> int:
    with bot.runtime.db.read() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_a_structured_item_is_returned_with_its_typed_output_and_schema(
    bot: BotHarness,
) -> None:
    response = bot.api("POST", "/v1/reviews", json=refund())
    assert response.status_code == 201, response.text
    item = bot.item(response.json()["id"])
    assert item["output"] == REFUND
    assert isinstance(item["output"]["amount"], float)
    assert item["output"]["notify_customer"] is True
    assert item["output_schema"] == REFUND_SCHEMA
    assert item["final_output"] is None


def test_a_text_item_answers_exactly_as_before(bot: BotHarness) -> None:
    item = bot.submit()
    assert item["output"] == "Booked to account 6300, cost centre 41, due 2026-12-01."
    assert "output_schema" not in item
    assert "output_schema" not in bot.item(item["id"])


def test_an_object_without_schema_is_accepted_and_its_types_kept(bot: BotHarness) -> None:
    output = {"order_id": "8812", "amount": 40, "rate": 0.5, "notify": False}
    item = bot.submit(output=output)
    assert bot.item(item["id"])["output"] == output


CASES_422 = [
    pytest.param(
        {"output_schema": {**REFUND_SCHEMA, "additionalProperties": False}},
        "output_schema.additionalProperties",
        id="unsupported-top-keyword",
    ),
    pytest.param(
        {
            "output_schema": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "default": "1"}},
            },
            "output": {"order_id": "8812"},
        },
        "output_schema.properties.order_id.default",
        id="unsupported-property-keyword",
    ),
    pytest.param(
        {"output": {**REFUND, "amount": 600.0}},
        "output.amount",
        id="output-over-maximum",
    ),
    pytest.param(
        {"output": {**REFUND, "currency": "CHF"}},
        "output.currency",
        id="output-not-in-enum",
    ),
    pytest.param(
        {"output": {"order_id": "8812", "amount": 4.0}},
        "output.currency",
        id="required-field-missing",
    ),
    pytest.param(
        {"output": {**REFUND, "refund_id": "x"}},
        "output.refund_id",
        id="field-not-in-schema",
    ),
    pytest.param(
        {"output": {**REFUND, "customer": {"id": 1}}, "output_schema": None},
        "output.customer",
        id="nested-object",
    ),
    pytest.param(
        {"output": {**REFUND, "lines": [1, 2]}, "output_schema": None},
        "output.lines",
        id="array-without-schema",
    ),
    pytest.param(
        {
            "output": {"tags": "a"},
            "output_schema": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "output_schema.properties.tags.type",
        id="array-in-schema",
    ),
    pytest.param(
        {"output": "plain text", "output_schema": REFUND_SCHEMA},
        "output_schema",
        id="schema-for-a-text-output",
    ),
    pytest.param(
        {"output": {**REFUND, "amount": "40"}},
        "output.amount",
        id="number-sent-as-string",
    ),
]


@pytest.mark.parametrize(("overrides", "field"), CASES_422)
def test_each_refusal_names_the_field_with_nothing_stored_or_posted(
    bot: BotHarness, overrides: dict[str, Any], field: str
) -> None:
    response = bot.api("POST", "/v1/reviews", json=refund(**overrides))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [error["field"] for error in body["errors"]] == [field], body
    assert _count(bot, ReviewItem) == 0
    assert _count(bot, OutboxMessage) == 0
    assert bot.standin.calls_to("chat.postMessage", ok=None) == []

"""Structured items in Slack, end to end through the stand-in (issue 11): the message
shows each field by its title, the Edit modal has one input of the right type per field,
a submission breaking the schema shows the field's error and decides nothing, and a
valid edit decides `edited` with `changes`, in GET and in the callback."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handlers import blocks
from tests.callback_receiver import CallbackReceiver
from tests.harness import BotHarness, actions_of, edit_values
from tests.standin.blockkit import check_view, check_view_submission_answer
from tests.test_structured_api import REFUND, refund

ORDER, AMOUNT, CURRENCY, NOTIFY, NOTE = (f"field_{i}" for i in range(5))


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def _texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def _open_edit(bot: BotHarness, item_id: str, user: str = "U0BOB") -> dict[str, Any]:
    before = len(bot.standin.calls_to("views.open"))
    bot.click(item_id, blocks.EDIT, user)
    bot.standin.wait_for(lambda s: len(s.calls_to("views.open")) > before)
    view = bot.standin.calls_to("views.open")[before].args["view"]
    return json.loads(view) if isinstance(view, str) else view


def _state(
    *,
    order: str = "8812",
    amount: str = "40",
    currency: str = "0",
    notify: bool = True,
    note: str | None = None,
) -> dict[str, Any]:
    """The Edit modal's state as Slack reports it on submission."""
    yes = {"value": "true", "text": {"type": "plain_text", "text": "Yes"}}
    chosen = {"value": currency, "text": {"type": "plain_text", "text": currency}}
    return {
        ORDER: {"value": {"type": "plain_text_input", "value": order}},
        AMOUNT: {"value": {"type": "number_input", "value": amount}},
        CURRENCY: {"value": {"type": "static_select", "selected_option": chosen}},
        NOTIFY: {"value": {"type": "checkboxes", "selected_options": [yes] if notify else []}},
        NOTE: {"value": {"type": "plain_text_input", "value": note}},
    }


def test_the_message_shows_each_field_by_title_with_values_by_type(bot: BotHarness) -> None:
    item = bot.submit(**refund())
    message = bot.message(item["id"])
    output = next(b for b in message["blocks"] if b.get("block_id") == "output")
    fields = [field["text"] for field in output["fields"]]
    assert fields == ["*Order*\n8812", "*amount*\n40", "*currency*\nEUR", "*notify_customer*\nYes"]
    assert actions_of(message)[:3] == [blocks.APPROVE, blocks.EDIT, blocks.REJECT]


def test_agent_text_in_keys_and_values_is_inert(bot: BotHarness) -> None:
    output = {"<!channel> note": "ping <@U0EVE> and <https://evil.example|bank>", "n": 1}
    item = bot.submit(output=output)
    text = _texts(bot.message(item["id"]))
    for live in ("<!channel>", "<@U0EVE>", "<https://evil"):
        assert live not in text, live
    assert "&lt;!channel&gt; note" in text


def test_a_large_object_stays_within_block_kit_limits_with_the_rest_one_click_away(
    bot: BotHarness,
) -> None:
    output = {f"field {n:03}": "x" * 1500 if n % 7 == 0 else n for n in range(150)}
    item = bot.submit(output=output)
    message = bot.message(item["id"])  # the stand-in refuses what Slack refuses
    assert len(message["blocks"]) <= 50
    assert blocks.VIEW_OUTPUT in actions_of(message)
    assert "120 more fields" in _texts(message)
    view = _open_edit(bot, item["id"])
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert {b["element"]["type"] for b in inputs} == {"plain_text_input"}  # the JSON, in parts
    assert json.loads("".join(b["element"].get("initial_value", "") for b in inputs)) == output


def test_the_edit_modal_has_one_input_of_the_right_type_per_field(bot: BotHarness) -> None:
    schema = {
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": {
            "order_id": {"type": "string", "title": "Order"},
            "amount": {"type": "number", "minimum": 0, "maximum": 500},
            "count": {"type": "integer", "minimum": 1},
            "currency": {"enum": ["EUR", "USD", "GBP"]},
            "notify_customer": {"type": "boolean"},
            "note": {"type": "string", "format": "multiline", "maxLength": 500},
            "due": {"type": "string", "format": "date"},
        },
    }
    output = {
        "order_id": "8812",
        "amount": 40.5,
        "count": 2,
        "currency": "USD",
        "notify_customer": True,
        "due": "2026-12-01",
    }
    item = bot.submit(output=output, output_schema=schema)
    view = _open_edit(bot, item["id"])
    assert check_view(view) == []
    inputs = {b["label"]["text"]: b for b in view["blocks"] if b["type"] == "input"}
    elements = {label: block["element"] for label, block in inputs.items()}
    assert elements["Order"] == {
        "action_id": "value",
        "type": "plain_text_input",
        "multiline": False,
        "max_length": 3000,
        "initial_value": "8812",
    }
    assert elements["amount"]["type"] == "number_input"
    assert elements["amount"]["is_decimal_allowed"] is True
    assert (elements["amount"]["min_value"], elements["amount"]["max_value"]) == ("0", "500")
    assert elements["amount"]["initial_value"] == "40.5"
    assert elements["count"]["type"] == "number_input"
    assert elements["count"]["is_decimal_allowed"] is False
    assert elements["currency"]["type"] == "static_select"
    assert elements["currency"]["initial_option"]["text"]["text"] == "USD"
    assert elements["notify_customer"]["type"] == "checkboxes"
    assert elements["notify_customer"]["initial_options"][0]["value"] == "true"
    assert elements["note"]["type"] == "plain_text_input" and elements["note"]["multiline"]
    assert "initial_value" not in elements["note"]
    assert elements["due"] == {
        "action_id": "value",
        "type": "datepicker",
        "initial_date": "2026-12-01",
    }
    assert not inputs["Order"]["optional"] and inputs["note"]["optional"]


def test_a_submission_breaking_the_schema_shows_the_fields_error_and_decides_nothing(
    bot: BotHarness,
) -> None:
    item = bot.submit(**refund())
    view = _open_edit(bot, item["id"])
    response = bot.submit_view(
        blocks.EDIT_CALLBACK, item["id"], "U0BOB", _state(amount="600", order="")
    )
    assert response.status_code == 200
    answer = response.json()
    assert check_view_submission_answer(answer, view) == []
    assert answer == {
        "response_action": "errors",
        "errors": {ORDER: "is required", AMOUNT: "must be at most 500"},
    }
    bot.wait_delivered(item["id"])
    assert bot.item(item["id"])["status"] == "pending"
    assert bot.standin.calls_to("chat.update") == []


def test_a_valid_edit_decides_edited_with_changes_in_get_and_the_callback(
    bot: BotHarness, receiver: CallbackReceiver
) -> None:
    item = bot.submit(**refund(callback_url=receiver.url))
    _open_edit(bot, item["id"])
    response = bot.submit_view(
        blocks.EDIT_CALLBACK, item["id"], "U0BOB", _state(amount="4", notify=False)
    )
    assert response.status_code == 200 and response.text in ("", "{}")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "edited"
    final = {**REFUND, "amount": 4.0, "notify_customer": False}
    assert decided["final_output"] == final
    assert isinstance(decided["final_output"]["amount"], float)
    assert decided["decision"]["changes"] == [
        {"field": "amount", "from": 40.0, "to": 4.0},
        {"field": "notify_customer", "from": True, "to": False},
    ]
    bot.standin.wait_for(lambda s: bool(receiver.deliveries))
    called = receiver.deliveries[0].json
    assert called["final_output"] == final
    assert called["decision"]["changes"] == decided["decision"]["changes"]
    bot.standin.wait_for(lambda s: actions_of(bot.message(item["id"])) == [blocks.VIEW_ORIGINAL])
    text = _texts(bot.message(item["id"]))
    assert "*amount* :pencil2:\\n~40~ → *4*" in text
    assert "*Order*\\n8812" in text


def test_an_edit_that_changes_nothing_is_an_approval(bot: BotHarness) -> None:
    item = bot.submit(**refund())
    _open_edit(bot, item["id"])
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0BOB", _state())
    assert response.status_code == 200
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "approved"
    assert decided["final_output"] == REFUND
    assert "changes" not in decided["decision"]


def test_four_eyes_the_second_approver_sees_the_changed_fields_marked(bot: BotHarness) -> None:
    item = bot.submit(**refund(workflow="payments"))
    _open_edit(bot, item["id"], "U0ALICE")
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0ALICE", _state(amount="4"))
    assert response.status_code == 200
    bot.standin.wait_for(lambda s: "Proposed edit" in _texts(bot.message(item["id"])))
    proposed = next(b for b in bot.message(item["id"])["blocks"] if b.get("block_id") == "proposed")
    assert proposed["text"]["text"] == "*Proposed edit*\n:pencil2: *amount*: ~40~ → *4*"
    assert bot.item(item["id"])["status"] == "pending"
    # The second approver's modal starts from the proposal; approving it decides.
    view = _open_edit(bot, item["id"], "U0CAROL")
    amount = next(b for b in view["blocks"] if b.get("block_id") == AMOUNT)
    assert amount["element"]["initial_value"] == "4"
    bot.click(item["id"], blocks.APPROVE, "U0CAROL")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "edited"
    assert decided["decision"]["approvers"] == ["U0ALICE", "U0CAROL"]
    assert decided["decision"]["changes"] == [{"field": "amount", "from": 40.0, "to": 4.0}]


def test_an_object_without_schema_is_edited_by_its_json_types(bot: BotHarness) -> None:
    output = {"order_id": "8812", "amount": 40, "rate": 0.00001, "notify": True, "memo": ""}
    item = bot.submit(output=output)
    view = _open_edit(bot, item["id"])
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    types = [b["element"]["type"] for b in inputs]
    assert types == [
        "plain_text_input",
        "number_input",
        "number_input",
        "checkboxes",
        "plain_text_input",
    ]
    assert [b["optional"] for b in inputs] == [True, False, False, True, True]
    assert inputs[2]["element"]["initial_value"] == "0.00001"
    yes = {"value": "true", "text": {"type": "plain_text", "text": "Yes"}}
    same = {
        "field_0": {"value": {"type": "plain_text_input", "value": "8812"}},
        "field_1": {"value": {"type": "number_input", "value": "40"}},
        "field_2": {"value": {"type": "number_input", "value": "0.00001"}},
        "field_3": {"value": {"type": "checkboxes", "selected_options": [yes]}},
        "field_4": {"value": {"type": "plain_text_input", "value": None}},
    }
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0BOB", same)
    assert response.status_code == 200 and response.text in ("", "{}")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "approved" and decided["final_output"] == output


def test_an_object_too_large_for_one_input_per_field_is_edited_as_checked_json(
    bot: BotHarness,
) -> None:
    output = {f"f{n:03}": n for n in range(120)}
    item = bot.submit(output=output)
    view = _open_edit(bot, item["id"])
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["output_0"]
    wrong = json.dumps({**output, "f007": "seven"})
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0BOB", edit_values(wrong))
    answer = response.json()
    assert check_view_submission_answer(answer, view) == []
    assert answer["errors"] == {"output_0": "f007: must be a number"}
    assert bot.item(item["id"])["status"] == "pending"
    right = json.dumps({**output, "f007": 70})
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0BOB", edit_values(right))
    assert response.status_code == 200 and response.text in ("", "{}")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "edited"
    assert decided["decision"]["changes"] == [{"field": "f007", "from": 7, "to": 70}]

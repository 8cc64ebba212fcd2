"""The Slack stand-in checks the Block Kit of structured items' modals as Slack does:
number inputs, checkboxes, date pickers, selects and `response_action: errors` answers."""

from typing import Any

import pytest

from tests.standin.blockkit import check_view, check_view_submission_answer


def _modal(element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Edit"},
        "submit": {"type": "plain_text", "text": "Approve"},
        "blocks": [
            {
                "type": "input",
                "block_id": "field_0",
                "label": {"type": "plain_text", "text": "Amount"},
                "element": {"action_id": "value", **element},
            }
        ],
    }


YES = {"text": {"type": "plain_text", "text": "Yes"}, "value": "true"}
EUR = {"text": {"type": "plain_text", "text": "EUR"}, "value": "0"}


@pytest.mark.parametrize(
    "element",
    [
        {"type": "number_input", "is_decimal_allowed": True, "initial_value": "40.5",
         "min_value": "0", "max_value": "500"},
        {"type": "number_input", "is_decimal_allowed": False, "initial_value": "-3"},
        {"type": "checkboxes", "options": [YES], "initial_options": [YES]},
        {"type": "datepicker", "initial_date": "2026-12-01"},
        {"type": "static_select", "options": [EUR], "initial_option": EUR},
    ],
)  # fmt: skip
def test_what_slack_accepts_passes(element: dict[str, Any]) -> None:
    assert check_view(_modal(element)) == []


@pytest.mark.parametrize(
    ("element", "pointer"),
    [
        ({"type": "number_input"}, "is_decimal_allowed"),
        ({"type": "number_input", "is_decimal_allowed": False, "initial_value": "4.5"},
         "initial_value"),
        ({"type": "number_input", "is_decimal_allowed": True, "initial_value": "1e3"},
         "initial_value"),
        ({"type": "number_input", "is_decimal_allowed": True, "initial_value": "600",
          "max_value": "500"}, "initial_value"),
        ({"type": "number_input", "is_decimal_allowed": True, "min_value": "5",
          "max_value": "1"}, "min_value"),
        ({"type": "datepicker", "initial_date": "01.12.2026"}, "initial_date"),
        ({"type": "datepicker", "initial_date": "2026-02-30"}, "initial_date"),
        ({"type": "checkboxes", "options": [YES], "initial_options": [EUR]}, "initial_options/0"),
        ({"type": "static_select", "options": [EUR], "initial_option": YES}, "initial_option"),
    ],
)  # fmt: skip
def test_what_slack_refuses_is_refused_with_its_pointer(
    element: dict[str, Any], pointer: str
) -> None:
    errors = check_view(_modal(element))
    assert errors and f"/view/blocks/0/element/{pointer}]" in errors[0]


def test_an_errors_answer_must_name_input_blocks_of_the_view() -> None:
    view = _modal({"type": "datepicker"})
    assert (
        check_view_submission_answer(
            {"response_action": "errors", "errors": {"field_0": "must be a date"}}, view
        )
        == []
    )
    assert check_view_submission_answer(
        {"response_action": "errors", "errors": {"field_9": "must be a date"}}, view
    )
    assert check_view_submission_answer({"response_action": "errors", "errors": {}}, view)
    assert check_view_submission_answer({"response_action": "clear"}, view)

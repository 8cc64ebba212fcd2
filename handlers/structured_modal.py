"""The Edit modal of a structured item: one input per field, pre-filled, and the
submission read back into the output's JSON types and checked against the item's fields.

Inputs by field: `number_input` for numbers and integers (with the schema's bounds),
`static_select` for enums, `checkboxes` for booleans, `datepicker` for `format: date`,
`plain_text_input` (multiline where the schema says so) for other strings. An item with
more fields than a modal holds, or a value longer than an input holds, is edited as JSON
in the text Edit modal instead (handlers/modals.py), checked the same way."""

import json
import math
from collections.abc import Mapping
from typing import Any

from handlers.blocks import INPUT_LIMIT, MODAL_BLOCK_LIMIT, Block
from handlers.payloads import InputState
from handlers.structured_blocks import item_form
from handlers.text import cut, plain
from storage.models import ReviewItem
from structured import (
    ABSENT,
    FieldSpec,
    FormSchema,
    SchemaProblem,
    check_shape,
    edit_text,
    format_value,
    validate_output,
    value_from_text,
)
from structured.changes import same_value

FIELD_BLOCK_PREFIX = "field_"
FIELD_ACTION = "value"
TRUE_OPTION = "true"
OPTION_TEXT_LIMIT = 75
LABEL_LIMIT = 2000
MAX_FIELD_INPUTS = MODAL_BLOCK_LIMIT - 2  # the title and a note take the rest


def current_values(item: ReviewItem) -> dict[str, Any]:
    """What an edit starts from: a four-eyes proposal waiting, else the output."""
    assert isinstance(item.output, dict)
    if item.approval_round > 0 and isinstance(item.final_output, dict):
        return item.final_output
    return item.output


def field_inputs(item: ReviewItem) -> list[Block] | None:
    """One input block per field, pre-filled; None when the fields do not fit a modal."""
    form = item_form(item)
    values = current_values(item)
    if len(form.fields) > MAX_FIELD_INPUTS:
        return None
    if any(len(edit_text(values.get(spec.key))) > INPUT_LIMIT for spec in form.fields):
        return None
    return [
        _input(index, spec, values.get(spec.key, ABSENT)) for index, spec in enumerate(form.fields)
    ]


def _input(index: int, spec: FieldSpec, value: Any) -> Block:
    block: Block = {
        "type": "input",
        "block_id": f"{FIELD_BLOCK_PREFIX}{index}",
        "label": {"type": "plain_text", "text": cut(plain(spec.label), LABEL_LIMIT)},
        "element": _element(spec, value),
        # A checkbox left unticked is `false`, not a missing answer.
        "optional": not spec.required or spec.kind == "boolean",
    }
    if spec.description:
        block["hint"] = {"type": "plain_text", "text": cut(plain(spec.description), LABEL_LIMIT)}
    return block


def _element(spec: FieldSpec, value: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"action_id": FIELD_ACTION}
    present = value is not ABSENT and value is not None
    if spec.kind in ("number", "integer"):
        element |= {"type": "number_input", "is_decimal_allowed": spec.kind == "number"}
        if spec.minimum is not None:
            low = spec.minimum if spec.kind == "number" else math.ceil(spec.minimum)
            element["min_value"] = format_value(low)
        if spec.maximum is not None:
            high = spec.maximum if spec.kind == "number" else math.floor(spec.maximum)
            element["max_value"] = format_value(high)
        if present:
            element["initial_value"] = edit_text(value)
    elif spec.kind == "enum":
        options = [_option(text, str(i)) for i, text in enumerate(spec.options)]
        element |= {"type": "static_select", "options": options}
        if present and value in spec.options:
            element["initial_option"] = options[spec.options.index(value)]
    elif spec.kind == "boolean":
        option = {"text": {"type": "plain_text", "text": "Yes"}, "value": TRUE_OPTION}
        element |= {"type": "checkboxes", "options": [option]}
        if value is True:
            element["initial_options"] = [option]
    elif spec.format == "date":
        element["type"] = "datepicker"
        if present:
            element["initial_date"] = value
    else:
        element |= {"type": "plain_text_input", "multiline": spec.format == "multiline"}
        element["max_length"] = min(spec.max_length or INPUT_LIMIT, INPUT_LIMIT) or 1
        if present and value != "":
            element["initial_value"] = edit_text(value)
    return element


def _option(text: str, value: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": cut(plain(text), OPTION_TEXT_LIMIT)},
        "value": value,
    }


def edited_fields(
    item: ReviewItem, values: Mapping[str, Mapping[str, InputState]]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The submitted fields as the output's JSON, or the problems by block id (shown on
    the fields inside the modal). Fields a person did not change keep their value
    exactly as it was (40 stays 40, not 40.0)."""
    form = item_form(item)
    before = current_values(item)
    edited: dict[str, Any] = {}
    errors: dict[str, str] = {}
    block_of = {spec.key: f"{FIELD_BLOCK_PREFIX}{i}" for i, spec in enumerate(form.fields)}
    for spec in form.fields:
        state = values.get(block_of[spec.key], {}).get(FIELD_ACTION)
        value, problem = _value_of(spec, state)
        if value is ABSENT and spec.kind == "string" and before.get(spec.key) == "":
            value = ""  # an empty text left empty stays in the output, as it was
        if problem is not None:
            errors[block_of[spec.key]] = problem
        elif value is not ABSENT:
            old = before.get(spec.key, ABSENT)
            edited[spec.key] = old if old is not ABSENT and same_value(old, value) else value
    for wrong in validate_output(edited, form):
        errors.setdefault(block_of.get(wrong.field, f"{FIELD_BLOCK_PREFIX}0"), wrong.message)
    return (None, errors) if errors else (edited, {})


def _value_of(spec: FieldSpec, state: InputState | None) -> tuple[Any, str | None]:
    if state is None:
        return ABSENT, None
    if spec.kind == "boolean":
        return any(o.value == TRUE_OPTION for o in state.selected_options or []), None
    if spec.kind == "enum":
        chosen = state.selected_option.value if state.selected_option else None
        if chosen is None:
            return ABSENT, None
        if not chosen.isdigit() or int(chosen) >= len(spec.options):
            return ABSENT, "Choose one of the options."
        return spec.options[int(chosen)], None
    if spec.format == "date":
        return value_from_text(spec, state.selected_date)
    return value_from_text(spec, state.value)


def edited_json(item: ReviewItem, text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON Edit modal's text as the output, or what is wrong with it (one message:
    the modal has one input)."""
    form: FormSchema = item_form(item)
    try:
        edited = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"Not valid JSON: {error.msg} (line {error.lineno})."
    if not isinstance(edited, dict):
        return None, "The JSON must be an object of fields."
    try:
        check_shape(edited)
    except SchemaProblem as problem:
        return None, f"{problem.path.removeprefix('output.')}: {problem.message}"
    problems = validate_output(edited, form)
    if problems:
        return None, "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return edited, None

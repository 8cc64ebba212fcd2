"""Block Kit for structured items (tool calls and forms): each field with its title and
its value as people read it, within Slack's limits (10 fields a section, 2,000 characters
a field, 50 blocks a message). Keys and values are agent text: escaped like any other.

Used by handlers/blocks.py (the message) and handlers/modals.py (the modals)."""

from typing import Any

from handlers.text import cut, cut_escaped, escape, escaped_chunks
from storage.models import ReviewItem, Status
from structured import FieldSpec, FormSchema, SchemaProblem, form_of, format_value, ordered
from structured.changes import same_value
from structured.schema import implied_schema

FIELDS_PER_SECTION = 10
MESSAGE_FIELD_SECTIONS = 3  # at most 30 fields in a message; the rest one click away
VALUE_LIMIT = 500  # characters of a value in the message; the full value in "View full"
OLD_VALUE_LIMIT = 200  # of a changed field's previous value
MODAL_SECTION_LIMIT = 3000

Block = dict[str, Any]


def item_form(item: ReviewItem) -> FormSchema:
    """The item's fields, in the order the agent sent them."""
    assert isinstance(item.output, dict)
    try:
        form = form_of(item.output, item.output_schema)
    except SchemaProblem:  # checked at submission; never left unrendered all the same
        form = implied_schema({k: v for k, v in item.output.items() if v is not None})
    return ordered(form, item.field_order)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(cut(text, 3000))]}


def shown_values(item: ReviewItem) -> dict[str, Any]:
    """What the message shows: the final values once approved with edits."""
    assert isinstance(item.output, dict)
    if item.status == Status.EDITED and isinstance(item.final_output, dict):
        return item.final_output
    return item.output


def output_blocks(item: ReviewItem) -> tuple[list[Block], bool]:
    """The fields, ten to a section; after an edit, each changed field marked with its
    old value struck through. True when something is cut (a long value, or fields past
    the message's room): "View full output" then shows it all."""
    assert isinstance(item.output, dict)
    form = item_form(item)
    values = shown_values(item)
    edited = values is not item.output
    specs = [spec for spec in form.fields if spec.key in values or spec.key in item.output]
    room = FIELDS_PER_SECTION * MESSAGE_FIELD_SECTIONS
    was_cut = len(specs) > room
    texts = []
    for spec in specs[:room]:
        text, cut_here = _field_text(spec, values, item.output if edited else None)
        texts.append(text)
        was_cut = was_cut or cut_here
    blocks: list[Block] = []
    if edited:
        blocks.append(
            _context(
                ":pencil2: Final values, as approved: changed fields are marked, the "
                "old value ~struck through~."
            )
        )
    for start in range(0, len(texts), FIELDS_PER_SECTION):
        section = texts[start : start + FIELDS_PER_SECTION]
        block_id = "output" if start == 0 else f"output_fields_{start // FIELDS_PER_SECTION}"
        blocks.append(
            {"type": "section", "block_id": block_id, "fields": [_mrkdwn(t) for t in section]}
        )
    if len(specs) > room:
        blocks.append(_context(f"{len(specs) - room} more fields: see *View full output*."))
    elif was_cut:
        blocks.append(_context("Long values are cut to fit Slack: see *View full output*."))
    return blocks, was_cut


def _field_text(
    spec: FieldSpec, values: dict[str, Any], before: dict[str, Any] | None
) -> tuple[str, bool]:
    value = values.get(spec.key)
    text, was_cut = cut_escaped(format_value(value), VALUE_LIMIT)
    title = f"*{escape(cut(spec.label, 100))}*"
    if before is not None and _changed(spec.key, before, values):
        old = escape(cut(format_value(before.get(spec.key)), OLD_VALUE_LIMIT))
        title += " :pencil2:"
        text = f"~{old}~ → *{text}*"
    return f"{title}\n{text}", was_cut


def _changed(key: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    return (key in before) != (key in after) or not same_value(before.get(key), after.get(key))


def proposed_text(item: ReviewItem, limit: int) -> str:
    """A four-eyes proposal as the second approver sees it: the changed fields only,
    each with its old value struck through."""
    assert isinstance(item.output, dict) and isinstance(item.final_output, dict)
    lines = []
    for spec in item_form(item).fields:
        if not _changed(spec.key, item.output, item.final_output):
            continue
        old = escape(cut(format_value(item.output.get(spec.key)), OLD_VALUE_LIMIT))
        new = escape(cut(format_value(item.final_output.get(spec.key)), VALUE_LIMIT))
        lines.append(f":pencil2: *{escape(cut(spec.label, 100))}*: ~{old}~ → *{new}*")
    text = "\n".join(lines) or "No field changed."
    return cut(text, limit)


def full_blocks(item: ReviewItem, values: dict[str, Any], block_limit: int) -> list[Block]:
    """Every field in full, for the "View full output" and "View original" modals."""
    blocks: list[Block] = []
    for spec in item_form(item).fields:
        if spec.key not in values:
            continue
        chunks = escaped_chunks(format_value(values[spec.key]), MODAL_SECTION_LIMIT - 120)
        title = f"*{escape(cut(spec.label, 100))}*"
        for index, chunk in enumerate(chunks or [""]):
            text = f"{title}\n{chunk}" if index == 0 else chunk
            blocks.append({"type": "section", "text": _mrkdwn(text or title)})
    if len(blocks) > block_limit:
        blocks = blocks[: block_limit - 1]
        blocks.append(_context("The rest does not fit in a Slack modal; fetch it from the API."))
    return blocks

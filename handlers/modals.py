"""Block Kit for the modals an item's buttons open: Edit, Reject, the spot check's
"Wrong", and the full or original text. Each carries the item id in private_metadata."""

import json
from typing import Any

from handlers import structured_blocks, structured_modal
from handlers.blocks import (
    EDIT_CALLBACK,
    INPUT_LIMIT,
    MODAL_BLOCK_LIMIT,
    NOTE_BLOCK,
    OUTPUT_BLOCK_PREFIX,
    REASON_BLOCK,
    REJECT_CALLBACK,
    SECTION_LIMIT,
    SPOT_WRONG_CALLBACK,
    Block,
    mrkdwn,
)
from handlers.text import cut, cut_escaped, escape, escaped_chunks, split_at_words
from rules import Route
from storage.models import ReviewItem, Status
from structured import output_as_text

PREVIEW_LIMIT = 600  # of the output, in the Reject modal: enough to recognise it
SELECT_LIMIT = 100  # options in one static_select
OPTION_LIMIT = 75  # characters of an option's text


def edit_modal(item: ReviewItem) -> dict[str, Any]:
    """The output pre-filled, in as many inputs as it takes (one input holds 3,000
    characters); long outputs are split at line breaks or spaces, never inside a word.
    A structured item gets one input per field (handlers/structured_modal.py)."""
    if isinstance(item.output, dict):
        fields = structured_modal.field_inputs(item)
        if fields is not None:
            blocks: list[Block] = [_title_section(item), *fields]
            return _modal(EDIT_CALLBACK, "Edit and approve", item.id, blocks, submit="Approve")
    return _text_edit_modal(item, edit_text_of(item))


def edit_text_of(item: ReviewItem) -> str:
    """The text the text Edit modal holds: a structured item too large for one input per
    field is edited as its JSON."""
    if isinstance(item.output, dict):
        return json.dumps(structured_modal.current_values(item), ensure_ascii=False, indent=2)
    return item.output


def _title_section(item: ReviewItem) -> Block:
    return {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")}


def _text_edit_modal(item: ReviewItem, text: str) -> dict[str, Any]:
    parts = split_at_words(text, INPUT_LIMIT) or [""]
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")},
    ]
    if isinstance(item.output, dict):
        blocks.append(
            _context(
                "Too many fields for one input each: edit the JSON (it is checked against "
                "the item's fields when you approve)."
            )
        )
    if len(parts) > 1:
        blocks.append(
            _context(
                f"The output is {len(text):,} characters: it is split into "
                f"{len(parts)} parts, which are joined back in order."
            )
        )
    for index, part in enumerate(parts):
        label = "Output" if len(parts) == 1 else f"Output, part {index + 1} of {len(parts)}"
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "text",
            "multiline": True,
            "max_length": INPUT_LIMIT,
        }
        if part:
            element["initial_value"] = part
        blocks.append(
            {
                "type": "input",
                "block_id": f"{OUTPUT_BLOCK_PREFIX}{index}",
                "label": {"type": "plain_text", "text": label},
                "element": element,
                "optional": len(parts) > 1,
            }
        )
    return _modal(EDIT_CALLBACK, "Edit and approve", item.id, blocks, submit="Approve")


def reject_modal(item: ReviewItem, route: Route) -> dict[str, Any]:
    """The route's reasons by their labels (the id is what is recorded), a note, and
    what is being rejected: the title and the start of the output."""
    preview, _ = cut_escaped(output_as_text(item.output), PREVIEW_LIMIT)
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")},
        {"type": "section", "block_id": "rejected_output", "text": mrkdwn(_quoted(preview))},
        _reason_input(route, "Reason"),
        _note_input("Note for the agent and the digest"),
    ]
    return _modal(REJECT_CALLBACK, "Reject", item.id, blocks, submit="Reject")


def spot_wrong_modal(item: ReviewItem, route: Route) -> dict[str, Any]:
    """The spot check's "Wrong": why the auto-approval was wrong, in the route's reasons."""
    preview, _ = cut_escaped(output_as_text(item.final_output or item.output), PREVIEW_LIMIT)
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")},
        {"type": "section", "block_id": "checked_output", "text": mrkdwn(_quoted(preview))},
        _context(f"Auto-approved at confidence {item.confidence:g}. What is wrong with it?"),
        _reason_input(route, "What is wrong"),
        _note_input("Note for the digest"),
    ]
    return _modal(SPOT_WRONG_CALLBACK, "Spot check: wrong", item.id, blocks, submit="Record")


def _reason_input(route: Route, label: str) -> Block:
    options = [
        {
            "text": {"type": "plain_text", "text": cut(route.reason_label(reason), OPTION_LIMIT)},
            "value": reason[:150],
        }
        for reason in route.reason_ids()[:SELECT_LIMIT]
    ]
    return {
        "type": "input",
        "block_id": REASON_BLOCK,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "static_select", "action_id": "choice", "options": options},
    }


def _note_input(label: str) -> Block:
    return {
        "type": "input",
        "block_id": NOTE_BLOCK,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "plain_text_input",
            "action_id": "text",
            "multiline": True,
            "max_length": INPUT_LIMIT,
        },
    }


def _quoted(text: str) -> str:
    return "\n".join(f">{line}" for line in text.split("\n"))


def full_output_modal(item: ReviewItem) -> dict[str, Any]:
    """The whole text the message shows: the final text once approved with edits."""
    edited = item.status == Status.EDITED and item.final_output is not None
    text = item.final_output if edited and item.final_output is not None else item.output
    if isinstance(text, dict):
        blocks = structured_blocks.full_blocks(item, text, MODAL_BLOCK_LIMIT)
        return _modal(None, "Full output" if not edited else "Final values", item.id, blocks)
    return _text_modal(item, "Full output" if not edited else "Final text", text)


def original_modal(item: ReviewItem) -> dict[str, Any]:
    """The output as the agent submitted it, before the reviewer's edits."""
    if isinstance(item.output, dict):
        blocks = structured_blocks.full_blocks(item, item.output, MODAL_BLOCK_LIMIT)
        return _modal(None, "Original output", item.id, blocks)
    return _text_modal(item, "Original output", item.output)


def _text_modal(item: ReviewItem, title: str, text: str) -> dict[str, Any]:
    chunks = escaped_chunks(text, SECTION_LIMIT)
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(chunk)} for chunk in chunks]
    if len(blocks) > MODAL_BLOCK_LIMIT:
        blocks = blocks[: MODAL_BLOCK_LIMIT - 1]
        blocks.append(_context("The rest does not fit in a Slack modal; fetch it from the API."))
    return _modal(None, title, item.id, blocks)


def _context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(cut(text, SECTION_LIMIT))]}


def _modal(
    callback_id: str | None,
    title: str,
    item_id: str,
    blocks: list[Block],
    submit: str | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Cancel" if submit else "Close"},
        "private_metadata": item_id,
        "blocks": blocks,
    }
    if callback_id:
        view["callback_id"] = callback_id
    if submit:
        view["submit"] = {"type": "plain_text", "text": submit}
    return view

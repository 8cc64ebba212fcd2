"""Block Kit for an item: the review message and the modals. Plain functions over stored
rows, returning the dicts Slack takes, within Slack's documented limits.

The one module that renders item messages: the listeners (handlers/) and the outbox's
Slack deliveries (bot/slack_delivery.py) both render from here."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handlers.links import links_line
from handlers.text import cut, cut_escaped, escape, escaped_chunks, plain
from storage.models import STATUS_WORDS, Decision, ReviewItem, SpotCheck, Status

ACTIONS_BLOCK = "review_actions"
APPROVE, EDIT, REJECT, VIEW_OUTPUT = "approve", "edit", "reject", "view_output"
SPOT_OK, SPOT_WRONG = "spot_ok", "spot_wrong"
EDIT_CALLBACK, REJECT_CALLBACK = "edit_submit", "reject_submit"
REASON_BLOCK, NOTE_BLOCK = "reason", "note"
OUTPUT_BLOCK_PREFIX = "output_"

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
INPUT_LIMIT = 3000
MAX_CONTEXT_FIELDS = 10
MODAL_BLOCK_LIMIT = 100

Block = dict[str, Any]

_EMOJI = {
    Status.APPROVED: ":white_check_mark:",
    Status.EDITED: ":pencil2:",
    Status.REJECTED: ":x:",
    Status.EXPIRED: ":hourglass:",
    Status.AUTO_APPROVED: ":robot_face:",
    Status.CANCELLED: ":no_entry_sign:",
}
# e.g. ":pencil2: Approved with edits", in the words of storage.models.STATUS_WORDS.
_OUTCOME = {
    status: f"{emoji} {STATUS_WORDS[status].capitalize()}" for status, emoji in _EMOJI.items()
}


def slack_date(at: datetime) -> str:
    """A date every reader sees in their own time zone, with a UTC fallback."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(plain(text), limit), "emoji": False}


def notification_text(item: ReviewItem) -> str:
    """The push-notification and fallback text: escaped, so it can never ping anyone."""
    state = "Review needed" if item.status == Status.PENDING else _OUTCOME[Status(item.status)]
    about = f"{escape(item.workflow)}, confidence {item.confidence:.0%}"
    return cut(f"{state}: {escape(item.title)} ({about})", 3000)


def item_message(
    item: ReviewItem,
    decision: Decision | None,
    approvers: Sequence[str] = (),
    spot_checks: Sequence[SpotCheck] = (),
) -> tuple[str, list[Block]]:
    """The review message: what the agent produced, and the buttons or the outcome."""
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(item.title, HEADER_LIMIT)},
        {"type": "section", "fields": _summary_fields(item)},
    ]
    output, was_cut = cut_escaped(item.output, SECTION_LIMIT)
    blocks.append({"type": "section", "block_id": "output", "text": mrkdwn(output)})
    if was_cut:
        blocks.append(_context(f"Output cut to fit Slack: {len(item.output):,} characters in all."))
    blocks.extend(_escalation_history(item))
    if item.status == Status.PENDING:
        blocks.extend(_approval_progress(item, approvers))
    blocks.extend(_context_fields(item))
    if item.links:
        blocks.append(_context(links_line(item.links, SECTION_LIMIT)))
    if item.status == Status.PENDING:
        blocks.append(_buttons(item, show_full=was_cut))
    else:
        blocks.append(_context(outcome_line(item, decision)))
        if item.status == Status.AUTO_APPROVED:
            blocks.extend(_spot_check(item, spot_checks))
        if was_cut:
            blocks.append(_full_output_button(item))
    return notification_text(item), blocks


def _spot_check(item: ReviewItem, checks: Sequence[SpotCheck]) -> list[Block]:
    """Auto-approved items posted for a spot check: was the machine right?"""
    spot: list[Block] = [
        {
            "type": "actions",
            "block_id": "spot_check",
            "elements": [
                _button("Looks right", SPOT_OK, item.id, style="primary"),
                _button("Wrong", SPOT_WRONG, item.id, style="danger"),
            ],
        }
    ]
    if checks:
        verdicts = ", ".join(
            f"{'👍' if check.verdict == 'ok' else '👎'} <@{check.user_id}>" for check in checks
        )
        spot.append(_context(f"Spot check: {verdicts}"))
    return spot


def _escalation_history(item: ReviewItem) -> list[Block]:
    """On every message of the item: who it was escalated to, and when."""
    lines = [
        f":arrow_double_up: Escalated to {_people(entry)} "
        f"{slack_date(datetime.fromisoformat(entry['at']))}"
        for entry in item.escalations[-5:]
    ]
    return [_context("\n".join(lines))] if lines else []


def _people(entry: dict[str, Any]) -> str:
    people = ", ".join(f"<@{user}>" for user in entry.get("to", []))
    return f"{people} in <#{entry['channel']}>" if entry.get("channel") else people


def escalation_message(
    item: ReviewItem,
    decision: Decision | None,
    approvers: Sequence[str],
    level: int,
    original_url: str | None,
) -> tuple[str, list[Block]]:
    """The item as sent to the people it is escalated to: why they are asked, then the
    same message and buttons as the original."""
    text, item_blocks = item_message(item, decision, approvers)
    entry = next((e for e in item.escalations if e["level"] == level), None)
    asked_at = datetime.fromisoformat(entry["at"]) if entry else item.created_at
    owner = item.frozen_route().owner
    waiting_for = ", ".join(f"<@{user}>" for user in owner.users) or f"<#{owner.channel}>"
    why = (
        f":arrow_double_up: *Escalated to you* (level {level}): waiting "
        f"{humanize(asked_at - item.created_at)} for {waiting_for}."
    )
    if original_url:
        why += f" <{original_url}|Original message>"
    if item.status == Status.PENDING:
        text = f"Escalated to you: {text}"
    return text, [_context(why), *item_blocks]


def humanize(delta: Any) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return f"{max(0, int(delta.total_seconds()))} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def _approval_progress(item: ReviewItem, approvers: Sequence[str]) -> list[Block]:
    """Four-eyes routes: the proposed edit, if any, and who has approved so far."""
    # One key, read without parsing the whole frozen route (item.frozen_route()): every
    # render of every item passes here.
    required = int(item.route_snapshot.get("approvals_required", 1))
    if required <= 1:
        return []
    progress: list[Block] = []
    if item.approval_round > 0 and item.final_output is not None:
        proposed, _ = cut_escaped(item.final_output, SECTION_LIMIT - 40)
        progress.append(
            {
                "type": "section",
                "block_id": "proposed",
                "text": mrkdwn(f"*Proposed edit*\n{proposed}"),
            }
        )
    names = ", ".join(f"<@{user}>" for user in approvers) or "none yet"
    progress.append(_context(f"Approvals: {len(approvers)} of {required} ({names})"))
    return progress


def _summary_fields(item: ReviewItem) -> list[dict[str, Any]]:
    fields = [
        mrkdwn(f"*Agent*\n{escape(cut(item.agent, 200))}"),
        mrkdwn(f"*Workflow*\n{escape(cut(item.workflow, 200))}"),
        mrkdwn(f"*Confidence*\n{item.confidence:.0%}"),
    ]
    if item.deadline is not None and item.status == Status.PENDING:
        fields.append(mrkdwn(f"*Deadline*\n{slack_date(item.deadline)}"))
    return fields


def _context_fields(item: ReviewItem) -> list[Block]:
    entries = list(item.context.items())
    if not entries:
        return []
    shown = entries[:MAX_CONTEXT_FIELDS]
    fields = [
        mrkdwn(cut(f"*{escape(cut(str(key), 100))}*\n{escape(_as_text(value))}", FIELD_LIMIT))
        for key, value in shown
    ]
    blocks: list[Block] = [{"type": "section", "block_id": "context", "fields": fields}]
    if len(entries) > len(shown):
        blocks.append(_context(f"{len(entries) - len(shown)} more context fields not shown."))
    return blocks


def _as_text(value: Any) -> str:
    return cut(value if isinstance(value, str) else repr(value), FIELD_LIMIT - 110)


def _context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(cut(text, SECTION_LIMIT))]}


def _buttons(item: ReviewItem, *, show_full: bool) -> Block:
    elements = [
        _button("Approve", APPROVE, item.id, style="primary"),
        _button("Edit", EDIT, item.id),
        _button("Reject", REJECT, item.id, style="danger"),
    ]
    if show_full:
        elements.append(_button("View full output", VIEW_OUTPUT, item.id))
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def _full_output_button(item: ReviewItem) -> Block:
    button = _button("View full output", VIEW_OUTPUT, item.id)
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": [button]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def outcome_line(item: ReviewItem, decision: Decision | None) -> str:
    line = _OUTCOME[Status(item.status)]
    if decision is None:
        return line
    if decision.source == "slack":
        line += f" by <@{decision.by}>"
    elif decision.source == "api":
        line += f" by agent {escape(decision.by)}"
    line += f" {slack_date(decision.at)}"
    if decision.reason:
        line += f" · reason: *{escape(decision.reason)}*"
    if decision.note:
        line += f" · “{escape(cut(decision.note, 500))}”"
    return line


def edit_modal(item: ReviewItem) -> dict[str, Any]:
    """The output pre-filled, in as many inputs as it takes (one input holds 3,000)."""
    parts = _split(item.output, INPUT_LIMIT) or [""]
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")},
    ]
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


def reject_modal(item: ReviewItem, reasons: list[str]) -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": cut(reason, 75)}, "value": reason[:150]}
        for reason in reasons[:100]
    ]
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{escape(cut(item.title, 500))}*")},
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "static_select", "action_id": "choice", "options": options},
        },
        {
            "type": "input",
            "block_id": NOTE_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": "Note for the agent and the digest"},
            "element": {
                "type": "plain_text_input",
                "action_id": "text",
                "multiline": True,
                "max_length": INPUT_LIMIT,
            },
        },
    ]
    return _modal(REJECT_CALLBACK, "Reject", item.id, blocks, submit="Reject")


def full_output_modal(item: ReviewItem) -> dict[str, Any]:
    chunks = escaped_chunks(item.output, SECTION_LIMIT)
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(chunk)} for chunk in chunks]
    if len(blocks) > MODAL_BLOCK_LIMIT:
        blocks = blocks[: MODAL_BLOCK_LIMIT - 1]
        blocks.append(_context("The rest does not fit in a Slack modal; fetch it from the API."))
    return _modal(None, "Full output", item.id, blocks)


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


def _split(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]

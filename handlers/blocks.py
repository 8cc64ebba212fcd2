"""Block Kit for an item's messages: the review message, its escalation copies and the
note in its thread. Plain functions over stored rows, returning the dicts Slack takes,
within Slack's documented limits. The modals are in handlers/modals.py.

The one module that renders item messages: the listeners (handlers/) and the outbox's
Slack deliveries (bot/slack_delivery.py) both render from here."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from handlers import structured_blocks
from handlers.escalation_blocks import escalation_history
from handlers.links import links_line
from handlers.text import (  # slack_date and humanize are used from here by other renderers
    as_text,
    cut,
    cut_escaped,
    escape,
    humanize,
    marked_changes,
    mentions,
    plain,
    slack_ago,
    slack_date,
)
from rules import Route, escalation_chain
from rules.reasons import humanized
from storage.models import STATUS_WORDS, Decision, ReviewItem, SpotCheck, Status

ACTIONS_BLOCK = "review_actions"
APPROVE, EDIT, REJECT, VIEW_OUTPUT = "approve", "edit", "reject", "view_output"
VIEW_ORIGINAL = "view_original"
SPOT_OK, SPOT_WRONG = "spot_ok", "spot_wrong"
TAKE, HAND_OVER = "take", "hand_over"  # the reviewer's queue (handlers/queue_actions.py)
EDIT_CALLBACK, REJECT_CALLBACK = "edit_submit", "reject_submit"
SPOT_WRONG_CALLBACK = "spot_wrong_submit"
REASON_BLOCK, NOTE_BLOCK = "reason", "note"
OUTPUT_BLOCK_PREFIX = "output_"

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
INPUT_LIMIT = 3000
MAX_CONTEXT_FIELDS = 10
MODAL_BLOCK_LIMIT = 100

Block = dict[str, Any]
# Each spot checker's reason and note (storage.rendering.Rendering.spot_notes).
SpotNotes = Mapping[str, tuple[str | None, str | None]]

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
    spot_notes: SpotNotes | None = None,
    *,
    ping_owners: bool = True,
) -> tuple[str, list[Block]]:
    """The review message: what the agent produced, and the buttons or the outcome.

    `spot_notes` holds each spot checker's reason and note; with `ping_owners` off (the
    copies posted to escalations) the route's owners are named by their channel."""
    route = route_of(item)
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(item.title, HEADER_LIMIT)},
        {"type": "section", "fields": _summary_fields(item, route, decision, ping_owners)},
    ]
    output_blocks, was_cut = _output(item)
    blocks.extend(output_blocks)
    blocks.extend(escalation_history(item))
    if item.status == Status.PENDING:
        blocks.extend(_approval_progress(item, approvers))
    blocks.extend(_context_fields(item))
    if item.links:
        blocks.append(_context(links_line(item.links, SECTION_LIMIT)))
    if item.status == Status.PENDING:
        if item.taken_by and item.taken_at:
            blocks.append(_context(f":raising_hand: <@{item.taken_by}> is on it since "
                                   f"{slack_date(item.taken_at)}"))  # fmt: skip
        blocks.append(_buttons(item, show_full=was_cut))
        return notification_text(item), blocks
    blocks.append(_context(outcome_line(item, decision, approvers)))
    if item.status == Status.AUTO_APPROVED:
        blocks.extend(_spot_check(item, route, spot_checks, spot_notes or {}))
    views = _view_buttons(item, show_full=was_cut)
    if views:
        blocks.append(views)
    return notification_text(item), blocks


def route_of(item: ReviewItem) -> Route | None:
    """The route frozen on the item; None if its snapshot does not parse, so a message
    is still rendered (without the route's details) rather than never delivered."""
    try:
        return item.frozen_route()
    except ValidationError:
        return None


def reason_label(route: Route | None, reason: str) -> str:
    return route.reason_label(reason) if route is not None else humanized(reason)


def _edited(item: ReviewItem) -> bool:
    return item.status == Status.EDITED and item.final_output is not None


def _output(item: ReviewItem) -> tuple[list[Block], bool]:
    """The output section: after "Approved with edits", the final text with what changed
    marked (the original stays one click away)."""
    if isinstance(item.output, dict):  # a structured item: field by field
        return structured_blocks.output_blocks(item)
    assert isinstance(item.final_output, str | None)
    if _edited(item):
        assert item.final_output is not None
        marked = _marked(item.output, item.final_output, SECTION_LIMIT)
        if marked is not None:
            text, was_cut = marked, False
            note = "Final text, as approved: ~struck~ words were removed, *bold* words added."
        else:  # too long to mark in one section: the final text, cut
            text, was_cut = cut_escaped(item.final_output, SECTION_LIMIT)
            note = "Final text, as approved (too long to mark the changes here)."
        shown = item.final_output
    else:
        text, was_cut = cut_escaped(item.output, SECTION_LIMIT)
        note, shown = None, item.output
    blocks: list[Block] = [{"type": "section", "block_id": "output", "text": mrkdwn(text)}]
    if note:
        blocks.insert(0, _context(f":pencil2: {note}"))
    if was_cut:
        blocks.append(_context(f"Output cut to fit Slack: {len(shown):,} characters in all."))
    return blocks, was_cut


def _marked(before: str, after: str, limit: int) -> str | None:
    """`after` with its changes from `before` marked, when that fits in `limit` (texts
    far too long to fit are not compared at all: the comparison is the costly part)."""
    if len(after) > limit or len(before) > 4 * limit:
        return None
    marked = marked_changes(before, after)
    return marked if len(marked) <= limit else None


def _spot_check(
    item: ReviewItem,
    route: Route | None,
    checks: Sequence[SpotCheck],
    notes: SpotNotes,
) -> list[Block]:
    """Auto-approved items posted for a spot check: why it was posted, and was the
    machine right? Once someone has judged, the buttons make way for the verdicts."""
    threshold = f" (threshold {route.auto_approve_at:g})" if route and route.auto_approve_at else ""
    share = f" ({route.audit_sample * 100:g}% of auto-approvals)" if route else ""
    why = (
        f":mag: Auto-approved at confidence {item.confidence:g}{threshold}; sampled for a "
        f"spot check{share}. Was it right?"
    )
    if not checks:
        buttons = [
            _button("Looks right", SPOT_OK, item.id, style="primary"),
            _button("Wrong", SPOT_WRONG, item.id, style="danger"),
        ]
        return [
            _context(why),
            {"type": "actions", "block_id": "spot_check", "elements": buttons},
        ]
    lines = [why.removesuffix(" Was it right?")]
    for check in checks:
        if check.verdict == "ok":
            lines.append(f":thumbsup: Looks right: <@{check.user_id}> {slack_date(check.at)}")
            continue
        reason, note = notes.get(check.user_id, (None, None))
        line = f":thumbsdown: Wrong: <@{check.user_id}> {slack_date(check.at)}"
        if reason:
            line += f" · reason: *{escape(reason_label(route, reason))}*"
        if note:
            line += f" · “{escape(cut(note, 500))}”"
        lines.append(line)
    return [_context("\n".join(lines))]


def escalation_message(
    item: ReviewItem,
    decision: Decision | None,
    approvers: Sequence[str],
    level: int,
    original_url: str | None,
) -> tuple[str, list[Block]]:
    """The item as sent to the people it is escalated to: who is asked and why, then
    the same message and buttons as the original. The owners were asked already: their
    channel is named rather than pinging them again."""
    text, item_blocks = item_message(item, decision, approvers, ping_owners=False)
    entry = next((e for e in item.escalations if e["level"] == level), None)
    asked_at = datetime.fromisoformat(entry["at"]) if entry else item.created_at
    asked = mentions(entry.get("to", [])) if entry else "You"
    nobody = f"nobody in <#{item.channel}>"
    if level > 1:
        nobody += " nor the people asked before"
    waited = f"{nobody} acted within {humanize(asked_at - item.created_at)}"
    if item.status == Status.PENDING:
        why = f":arrow_double_up: {asked}, please decide: {waited}."
        text = f"Please decide (escalated): {text}"
    else:
        were = "were" if entry and len(entry.get("to", [])) > 1 else "was"
        why = f":arrow_double_up: {asked} {were} asked: {waited}."
    if original_url:
        why += f" <{original_url}|The original message>"
    return text, [_context(why), *item_blocks]


def _approval_progress(item: ReviewItem, approvers: Sequence[str]) -> list[Block]:
    """Four-eyes routes: the proposed edit, if any, and who has approved so far."""
    # One key, read without parsing the whole frozen route (item.frozen_route()): every
    # render of every item passes here.
    required = int(item.route_snapshot.get("approvals_required", 1))
    if required <= 1:
        return []
    progress: list[Block] = []
    if item.approval_round > 0 and isinstance(item.final_output, dict):
        progress.append(
            _proposed_section(structured_blocks.proposed_text(item, SECTION_LIMIT - 40))
        )
    elif item.approval_round > 0 and isinstance(item.final_output, str):
        assert isinstance(item.output, str)
        proposed = _marked(item.output, item.final_output, SECTION_LIMIT - 40)
        if proposed is None:
            proposed, _ = cut_escaped(item.final_output, SECTION_LIMIT - 40)
        progress.append(
            {
                "type": "section",
                "block_id": "proposed",
                "text": mrkdwn(f"*Proposed edit*\n{proposed}"),
            }
        )
    names = mentions(approvers) or "none yet"
    progress.append(_context(f"Approvals: {len(approvers)} of {required} ({names})"))
    return progress


def _proposed_section(proposed: str) -> Block:
    text = mrkdwn(f"*Proposed edit*\n{proposed}")
    return {"type": "section", "block_id": "proposed", "text": text}


def _summary_fields(
    item: ReviewItem, route: Route | None, decision: Decision | None, ping_owners: bool
) -> list[dict[str, Any]]:
    fields = [
        mrkdwn(f"*Agent*\n{escape(cut(item.agent, 200))}"),
        mrkdwn(f"*Workflow*\n{escape(cut(item.workflow, 200))}"),
        mrkdwn(f"*Confidence*\n{item.confidence:.0%}"),
        mrkdwn(f"*Route*\n{escape(cut(item.route, 200))}"),
    ]
    if item.external_id:
        fields.append(mrkdwn(f"*External ID*\n{escape(cut(item.external_id, 200))}"))
    if item.status == Status.PENDING:
        if route is not None:
            deciders = _deciders(item, route, ping_owners)
            fields.append(mrkdwn(cut(f"*Decides*\n{deciders}", 1000)))
        fields.append(mrkdwn(f"*Waiting*\nsince {slack_ago(item.created_at)}"))
        upcoming = next_step_line(item, route) if route is not None else None
        if upcoming:
            fields.append(mrkdwn(cut(f"*Next*\n{upcoming}", 1000)))
    elif decision is not None and item.status != Status.AUTO_APPROVED:
        fields.append(mrkdwn(f"*Waited*\n{humanize(decision.at - item.created_at)}"))
    return fields


def _deciders(item: ReviewItem, route: Route, ping_owners: bool) -> str:
    """Who is expected to decide: the route's users (anyone in the channel when none are
    listed), and the people it was escalated to."""
    owners, channel = route.owner.users, route.owner.channel
    if ping_owners:
        who = mentions(owners) if owners else "anyone in this channel"
    else:
        who = f"the owners in <#{channel}>" if owners else f"anyone in <#{channel}>"
    escalated = [user for entry in item.escalations for user in entry.get("to", [])]
    if escalated:
        who += f"; escalated to {mentions(escalated)}"
    return who


def next_step_line(item: ReviewItem, route: Route) -> str | None:
    """What happens at the item's deadline: the next escalation, or what `on_exhausted`
    does once the chain has run out (nothing without a chain or with `keep`)."""
    if item.deadline is None:
        return None
    chain = escalation_chain(route)
    fired = len(item.escalations)
    when = slack_date(item.deadline)
    if fired < len(chain):
        step = chain[fired]
        where = f" in <#{step.channel}>" if step.channel else ""
        return f"Escalates to {mentions(step.to)}{where} {when}"
    if route.on_exhausted == "reject":
        return f"Rejected automatically {when}"
    if route.on_exhausted == "expire":
        return f"Expires {when}"
    return None


def _context_fields(item: ReviewItem) -> list[Block]:
    entries = list(item.context.items())
    if not entries:
        return []
    shown = entries[:MAX_CONTEXT_FIELDS]
    fields = [mrkdwn(_context_field(str(key), value)) for key, value in shown]
    blocks: list[Block] = [{"type": "section", "block_id": "context", "fields": fields}]
    if len(entries) > len(shown):
        blocks.append(_context(f"{len(entries) - len(shown)} more context fields not shown."))
    return blocks


def _context_field(key: str, value: Any) -> str:
    """A context value as people read it (Yes, —, 12400.5), never a Python repr."""
    shown = escape(cut(as_text(value), FIELD_LIMIT - 110))
    return cut(f"*{escape(cut(key, 100))}*\n{shown}", FIELD_LIMIT)


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
    if not item.taken_by:
        elements.append(_button("Take it", TAKE, item.id))
    elements.append(_button("Hand over", HAND_OVER, item.id))
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def _view_buttons(item: ReviewItem, *, show_full: bool) -> Block | None:
    """On a decided item: the full text when it was cut, the original after an edit."""
    elements = []
    if show_full:
        elements.append(_button("View full output", VIEW_OUTPUT, item.id))
    if _edited(item):
        elements.append(_button("View original", VIEW_ORIGINAL, item.id))
    if not elements:
        return None
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


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


def outcome_line(item: ReviewItem, decision: Decision | None, approvers: Sequence[str] = ()) -> str:
    """Who decided what and when; every approver of a four-eyes approval, once each."""
    line = _OUTCOME[Status(item.status)]
    if decision is None:
        return line
    if decision.source == "slack":
        deciders = list(approvers) if decision.status in (Status.APPROVED, Status.EDITED) else []
        line += f" by {mentions(deciders if decision.by in deciders else [decision.by])}"
    elif decision.source == "api":
        line += f" by agent {escape(decision.by)}"
    line += f" {slack_date(decision.at)}"
    if decision.reason:
        label = reason_label(route_of(item), decision.reason)
        line += f" · reason: *{escape(label)}*"
    if decision.note:
        note = escape(cut(decision.note, 500))
        # hitl's own notes are said plainly; only a person's (or agent's) words are quoted.
        line += f" · {note}" if decision.source == "system" else f" · “{note}”"
    return line

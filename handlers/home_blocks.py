"""Block Kit for the reviewer's queue: the App Home, the `/hitl` answer, the hand-over
modal and the hand-over DM. Plain functions over stored rows, within Slack's limits (a
Home holds at most 100 blocks, so long queues are paged)."""

from collections.abc import Callable, Sequence
from typing import Any

from commands.items import escalated_to
from commands.queue import HomeState
from handlers.blocks import humanize, mrkdwn, outcome_line, slack_date
from handlers.queue_payloads import (
    HAND_OVER_BLOCK,
    HAND_OVER_CALLBACK,
    HAND_OVER_INPUT,
    HOME_APPROVE,
    HOME_EDIT,
    HOME_PAGE,
    HOME_REJECT,
)
from handlers.text import cut, escape
from storage.models import Decision, ReviewItem, Status
from structured import output_as_text

Block = dict[str, Any]
LinkOf = Callable[[ReviewItem], str | None]

HOME_BLOCK_LIMIT = 100
PAGE_STEP = 20  # "Show more" adds this many
MAX_PAGE = 40  # two blocks an item: 40 items and the rest of the Home stay under 100
TAKEN_SHOWN = 10
SUMMARY_SHOWN = 5
SECTION_LIMIT = 3000

HELP = (
    "*hitl* keeps you in the loop of AI agents.\n"
    "• `/hitl`: what waits for you to decide, the nearest deadline first\n"
    "• `/hitl help`: this help\n"
    "Open hitl's *Home* tab for your whole queue with its buttons, the items you are on "
    "and what you decided in the last 7 days. On an item's message, *Take it* tells others "
    "you are on it and *Hand over* passes it to someone else who may decide it; replies in "
    "its thread are recorded on the item."
)


def _context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(cut(text, SECTION_LIMIT))]}


def _section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(cut(text, SECTION_LIMIT))}


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


def _title(item: ReviewItem, link_of: LinkOf, limit: int = 200) -> str:
    title = escape(cut(item.title, limit)).replace("|", "¦")
    link = link_of(item)
    return f"<{link}|{title}>" if link else title


def _due(item: ReviewItem) -> str:
    if item.deadline is None:
        return "no deadline"
    return f"escalates {slack_date(item.deadline)}"


def _item_line(item: ReviewItem, user: str, link_of: LinkOf) -> str:
    parts = [f"*{_title(item, link_of)}*"]
    facts = [f"`{escape(cut(item.route, 60))}`", _due(item), f"{item.confidence:.0%} confident"]
    if user in escalated_to(item) and user not in item.frozen_route().owner.users:
        facts.insert(0, ":arrow_double_up: escalated to you")
    if item.taken_by:
        who = "you are" if item.taken_by == user else f"<@{item.taken_by}> is"
        facts.append(f"{who} on it")
    parts.append(" · ".join(facts))
    return "\n".join(parts)


def decision_buttons(item_id: str) -> Block:
    """Approve / Edit / Reject outside the item's own message (Home, hand-over DM)."""
    return {
        "type": "actions",
        "elements": [
            _button("Approve", HOME_APPROVE, item_id, style="primary"),
            _button("Edit", HOME_EDIT, item_id),
            _button("Reject", HOME_REJECT, item_id, style="danger"),
        ],
    }


# --- the App Home --------------------------------------------------------------------


def home_view(state: HomeState, link_of: LinkOf) -> dict[str, Any]:
    """The person's Home: what waits for them (paged), what they are on, what they decided."""
    blocks: list[Block] = [{"type": "header", "text": _plain("Your review queue")}]
    blocks.extend(_waiting(state, link_of))
    blocks.append({"type": "divider"})
    blocks.extend(_taken(state, link_of))
    blocks.append({"type": "divider"})
    blocks.extend(_decided(state, link_of))
    assert len(blocks) <= HOME_BLOCK_LIMIT
    return {"type": "home", "blocks": blocks}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, 150), "emoji": True}


def _waiting(state: HomeState, link_of: LinkOf) -> list[Block]:
    total = state.waiting_total
    if total == 0:
        return [_section("*Waiting for you: 0*\nNothing waits for you to decide. :tada:")]
    blocks: list[Block] = [_section(f"*Waiting for you: {total}*, the nearest deadline first")]
    for item in state.waiting:
        blocks.append(_section(_item_line(item, state.user, link_of)))
        blocks.append(decision_buttons(item.id))
    blocks.extend(_paging(state))
    return blocks


def _paging(state: HomeState) -> list[Block]:
    first, last = state.offset + 1, state.offset + len(state.waiting)
    shown = (
        f"{last} of {state.waiting_total}"
        if first == 1
        else f"{first}–{last} of {state.waiting_total}"
    )
    buttons: list[dict[str, Any]] = []
    if last < state.waiting_total:
        if state.size < MAX_PAGE:
            size = min(MAX_PAGE, state.size + PAGE_STEP)
            buttons.append(_button("Show more", HOME_PAGE, f"{state.offset}:{size}"))
        else:
            buttons.append(_button(f"Next {state.size}", HOME_PAGE, f"{last}:{state.size}"))
    if state.offset > 0:
        buttons.append(_button("Back to the first", HOME_PAGE, f"0:{state.size}"))
    blocks: list[Block] = [_context(shown)]
    if buttons:
        blocks.append({"type": "actions", "block_id": "home_paging", "elements": buttons})
    return blocks


def _taken(state: HomeState, link_of: LinkOf) -> list[Block]:
    if not state.taken:
        return [_section("*You are on: 0*\nTake an item from its message to tell others.")]
    lines = [
        f"• {_title(item, link_of, 150)} · since {slack_date(item.taken_at or item.created_at)}"
        for item in state.taken[:TAKEN_SHOWN]
    ]
    more = len(state.taken) - TAKEN_SHOWN
    if more > 0:
        lines.append(f"…and {more} more")
    return [_section(f"*You are on: {len(state.taken)}*\n" + "\n".join(lines))]


def _decided(state: HomeState, link_of: LinkOf) -> list[Block]:
    header = f"*Decided by you in the last 7 days: {state.decided_total}*"
    if not state.decided:
        return [_section(header)]
    lines = [f"• {_title(item, link_of, 150)}: {_outcome(item, d)}" for item, d in state.decided]
    more = state.decided_total - len(state.decided)
    if more > 0:
        lines.append(f"…and {more} earlier")
    return [_section(header), _context("\n".join(lines))]


def _outcome(item: ReviewItem, decision: Decision) -> str:
    line = outcome_line(item, decision)
    return line.split(" · ", 1)[0]  # without reason and note: one line per item


# --- /hitl ---------------------------------------------------------------------------


def summary(count: int, waiting: Sequence[ReviewItem], link_of: LinkOf) -> tuple[str, list[Block]]:
    """The `/hitl` answer: how many wait for the person, and the first five."""
    if count == 0:
        text = "Nothing waits for you to decide. :tada:"
        return text, [_section(text), _context("`/hitl help` for what hitl can do.")]
    noun = "item waits" if count == 1 else "items wait"
    text = f"{count} {noun} for you to decide"
    lines = [
        f"• {_title(item, link_of, 150)} · {_due(item)} · "
        f"waiting since {slack_date(item.created_at)}"
        for item in waiting[:SUMMARY_SHOWN]
    ]
    heading = f"*{text}*" + (", the first five:" if count > SUMMARY_SHOWN else ":")
    blocks = [
        _section(heading + "\n" + "\n".join(lines)),
        _context("Your whole queue, with its buttons, is in hitl's Home tab. `/hitl help`"),
    ]
    return text, blocks


def help_blocks() -> tuple[str, list[Block]]:
    return "hitl help", [_section(HELP)]


# --- hand over -----------------------------------------------------------------------


def hand_over_modal(item: ReviewItem) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": HAND_OVER_CALLBACK,
        "title": {"type": "plain_text", "text": "Hand over"},
        "submit": {"type": "plain_text", "text": "Hand over"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": item.id,
        "blocks": [
            _section(f"*{escape(cut(item.title, 500))}*"),
            {
                "type": "input",
                "block_id": HAND_OVER_BLOCK,
                "label": {"type": "plain_text", "text": "Who should take it?"},
                "hint": {
                    "type": "plain_text",
                    "text": "Someone who may decide this item. They get it by direct message.",
                },
                "element": {"type": "users_select", "action_id": HAND_OVER_INPUT},
            },
        ],
    }


def hand_over_dm(
    item: ReviewItem, decision: Decision | None, by: str, link: str | None
) -> tuple[str, list[Block]]:
    """The DM to the person an item was handed to: the item and its buttons (or, when it
    was decided before the DM went out, what became of it)."""
    title = escape(cut(item.title, 200))
    text = f"<@{by}> handed you an item to decide: {title}"
    titled = f"<{link}|{title.replace('|', '¦')}>" if link else title
    waited = humanize(item.taken_at - item.created_at) if item.taken_at else None
    facts = [f"`{escape(cut(item.route, 60))}`", _due(item), f"{item.confidence:.0%} confident"]
    if waited:
        facts.append(f"waiting {waited}")
    blocks: list[Block] = [
        _section(f":handshake: <@{by}> handed you this item:\n*{titled}*\n" + " · ".join(facts)),
        _section(escape(cut(output_as_text(item.output), 1500))),
    ]
    if item.status == Status.PENDING:
        blocks.append(decision_buttons(item.id))
    else:
        blocks.append(_context(outcome_line(item, decision)))
    return text, blocks

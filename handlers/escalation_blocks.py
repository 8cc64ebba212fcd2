"""Block Kit for escalations: who an item was escalated to (shown on every message of the
item) and the note left in the original message's thread when a step fires. The
escalation copy itself is `handlers.blocks.escalation_message`."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from handlers.text import cut, mentions, slack_date
from storage.models import ReviewItem

Block = dict[str, Any]
SECTION_LIMIT = 3000


def context(text: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(text, SECTION_LIMIT), "verbatim": True}],
    }


def escalation_history(item: ReviewItem) -> list[Block]:
    """On every message of the item: who it was escalated to, and when."""
    lines = [
        f":arrow_double_up: Escalated to {people_asked(entry)} "
        f"{slack_date(datetime.fromisoformat(entry['at']))}"
        for entry in item.escalations[-5:]
    ]
    return [context("\n".join(lines))] if lines else []


def people_asked(entry: Mapping[str, Any]) -> str:
    people = mentions(entry.get("to", []))
    people = f"{people} in <#{entry['channel']}>" if entry.get("channel") else people
    return people + group_notes(entry)


def group_notes(entry: Mapping[str, Any]) -> str:
    """User groups as resolved when their step fired: who was asked, or a warning that
    the group could not be resolved, so the escalation went to a channel instead."""
    notes = [
        f" (<!subteam^{group}>: {mentions(members)})"
        for group, members in (entry.get("members") or {}).items()
    ]
    fallback = entry.get("channel") or "the item's channel"
    notes += [
        f" :warning: user group `{group}` could not be resolved (`{error}`): posted in "
        f"{'<#' + fallback + '>' if entry.get('channel') else fallback} instead"
        for group, error in (entry.get("unresolved") or {}).items()
    ]
    return "".join(notes)


def escalation_note(to: Sequence[str], channel: str | None, at: datetime) -> str:
    """The short reply in the original message's thread when an escalation fires."""
    people = people_asked({"to": to, "channel": channel})
    return f":arrow_double_up: Escalated to {people} {slack_date(at)}."

"""Agent text made safe for Slack: shown as text, never as a mention or a disguised link."""

import difflib
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Escape Slack's three control characters and defuse bare broadcast words.

    With `<`, `>` and `&` escaped, `<!channel>`, `<@U123>` and `<https://a|b>` are shown
    literally; a zero-width space keeps `@here` from ever being read as a broadcast.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{_ZERO_WIDTH_SPACE}{m.group(1)}", escaped)


def plain(text: str) -> str:
    """For plain_text objects (no mrkdwn parsing); only broadcast words need defusing."""
    return _BROADCAST.sub(lambda m: f"@{_ZERO_WIDTH_SPACE}{m.group(1)}", text)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def escaped_chunks(text: str, limit: int) -> list[str]:
    """Split `text` into escaped pieces of at most `limit` characters each.

    Splitting before escaping keeps an entity like `&amp;` from being cut in half;
    a piece prefers to end at a line break when one is near.
    """
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + limit)
        while end > start and len(escape(text[start:end])) > limit:
            end = start + max(1, (end - start) * 9 // 10)
        newline = text.rfind("\n", start, end)
        if end < len(text) and newline > start + (end - start) // 2:
            end = newline + 1
        pieces.append(escape(text[start:end]))
        start = end
    return pieces


def cut_escaped(text: str, limit: int) -> tuple[str, bool]:
    """The escaped start of `text` that fits in `limit`, and whether anything was cut."""
    if len(escape(text)) <= limit:
        return escape(text), False
    first = escaped_chunks(text, limit - 1)[0]
    return first + ELLIPSIS, True


def split_at_words(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters that join back into `text` exactly, each
    ending after a line break or a space where one is in reach: a word is cut only when
    it is longer than `limit` on its own."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        end = window.rfind("\n") + 1
        if end <= limit // 2:  # no line break in the second half: end after a space
            end = max(end, max(window.rfind(" "), window.rfind("\t")) + 1)
        if end <= 0:
            end = limit
        pieces.append(text[start : start + end])
        start += end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def as_text(value: Any) -> str:
    """A context value as people read it: never a Python repr."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(as_text(v) for v in value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_WORD = re.compile(r"(\S+)(\s*)")  # a word and the whitespace after it


def marked_changes(before: str, after: str) -> str:
    """`after` escaped, with what changed from `before` marked word by word: deleted
    words struck through, added words in bold. Only words are compared, with difflib's
    heuristic for very common ones (exhaustive matching of repeated words is quadratic:
    minutes for a page of them); whitespace and line breaks stay outside the marks,
    where Slack's mrkdwn needs them."""
    old = [(m[1], m[2]) for m in _WORD.finditer(before)]
    new = [(m[1], m[2]) for m in _WORD.finditer(after)]
    parts = [escape(after[: len(after) - len(after.lstrip())])]
    matcher = difflib.SequenceMatcher(a=[word for word, _ in old], b=[word for word, _ in new])
    for op, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape("".join(w + space for w, space in new[new_start:new_end])))
            continue
        if op in ("delete", "replace"):
            deleted = "".join(w + space for w, space in old[old_start:old_end]).rstrip()
            parts.append(_marked(deleted, "~") + " ")
        if op in ("insert", "replace"):
            parts.append(_marked("".join(w + space for w, space in new[new_start:new_end]), "*"))
    return "".join(parts)


def _marked(text: str, mark: str) -> str:
    """One mark around each line's run of words; the whitespace around it kept as is."""
    lines = text.split("\n")
    marked = []
    for line in lines:
        words = line.strip()
        if not words:
            marked.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        marked.append(f"{lead}{mark}{escape(words)}{mark}{trail}")
    return "\n".join(marked)


def slack_date(at: datetime) -> str:
    """A date every reader sees in their own time zone, with a UTC fallback."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def slack_ago(at: datetime) -> str:
    """Like "5 minutes ago", kept current by each reader's Slack client."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{ago}}|{fallback}>"


def humanize(delta: timedelta) -> str:
    """A wait as people say it: "45 s", "12 min", "2 h 5 min", "3 days"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return f"{max(0, int(delta.total_seconds()))} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def mentions(users: Sequence[str]) -> str:
    """Like "<@A>, <@B> and <@C>": people named once each, in order."""
    # S…: a Slack user group (an escalation target), mentioned as the group.
    names = [f"<!subteam^{u}>" if u[:1] == "S" else f"<@{u}>" for u in dict.fromkeys(users)]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"

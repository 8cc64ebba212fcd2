"""Agent text made safe for Slack: shown as text, never as a mention or a disguised link."""

import re

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

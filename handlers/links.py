"""An item's links, shown honestly under Slack's limits.

A label can claim to be any site ("https://mybank.com/secure-login"), so the host a link
really goes to is printed right after its label. Slack's limits are met by leaving out
whole links, never by cutting inside one: a label is never shown without its host.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from handlers.text import cut, escape

SEPARATOR = " · "
LABEL_LIMIT = 80
MAX_SHOWN = 10


def real_host(url: str) -> str:
    """The host a browser would go to (userinfo such as `mybank.com@` is not the host)."""
    try:
        return urlsplit(url).hostname or url
    except ValueError:  # an unparseable URL is shown as it is
        return url


def link_text(link: dict[str, Any]) -> str:
    """`<url|label> (host)` in mrkdwn: the agent's label, then the real host."""
    url = str(link["url"])
    host = real_host(url)
    label = escape(cut(str(link.get("text") or host), LABEL_LIMIT)).replace("|", "¦")
    target = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{target}|{label}> ({escape(host)})"


def links_line(links: Sequence[dict[str, Any]], limit: int) -> str:
    """The links that fit in `limit` characters, each whole, in the agent's order; the
    others are counted in a closing "…and N more"."""
    more_room = len(f"{SEPARATOR}…and {len(links)} more")
    shown: list[str] = []
    used = 0
    for link in links:
        if len(shown) == MAX_SHOWN:
            break
        text = link_text(link)
        needed = len(text) + (len(SEPARATOR) if shown else 0)
        if used + needed + more_room <= limit:
            shown.append(text)
            used += needed
    line = SEPARATOR.join(shown)
    left_out = len(links) - len(shown)
    if left_out:
        line += f"{SEPARATOR if shown else ''}…and {left_out} more"
    return line

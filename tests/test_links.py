"""Links are shown honestly under every limit: a label never without its real host, a
link that does not fit left out whole and counted, every block within Block Kit's limits."""

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import blocks
from handlers.links import link_text, links_line, real_host
from handlers.text import escape
from storage.models import ReviewItem, Status
from tests.harness import BotHarness
from tests.standin.blockkit import check_message_blocks

LINK = re.compile(r"<([^|>]*)\|([^>]*)>")


def _item(links: list[dict[str, Any]]) -> ReviewItem:
    return ReviewItem(
        id="rv_01TESTLINKS0000000000000000",
        agent="invoice-bot",
        workflow="ap-invoices",
        route="invoices",
        route_snapshot={},
        rules_version="v1",
        title="Invoice 4471",
        output="Booked to account 6300.",
        confidence=0.62,
        context={},
        links=links,
        item_metadata={},
        escalations=[],
        status=Status.PENDING,
        channel="C0APREVIEW",
        created_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )


def _mrkdwn(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [text for value in node.values() for text in _mrkdwn(value)]
    if isinstance(node, list):
        return [text for value in node for text in _mrkdwn(value)]
    return []


def _rendered(links: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    _text, message_blocks = blocks.item_message(_item(links), None)
    return "\n".join(_mrkdwn(message_blocks)), message_blocks


def _exploit() -> list[dict[str, str]]:
    """The reported attack: a first link of a 1,900-character URL, then a label posing as
    the bank. Together they take 3,005 characters, just over a block's 3,000, so cutting
    the line fell after the bank label and before its "(evil.example)"."""
    first_url = "https://files.example.com/" + "a" * (1900 - len("https://files.example.com/"))
    first = {"text": "Invoice PDF", "url": first_url}
    label = "https://mybank.com/secure-login"
    fixed = len(f"<{first_url}|Invoice PDF> (files.example.com) · <|{label}> (evil.example)")
    evil_url = "https://evil.example/"
    evil_url += "p" * (3005 - fixed - len(evil_url))
    return [first, {"text": label, "url": evil_url}]


def test_the_reported_spoof_shows_no_label_without_its_host() -> None:
    links = _exploit()
    naive = " · ".join(link_text(link) for link in links)
    assert len(naive) == 3005  # the case as reported: over the limit inside the second link
    text, message_blocks = _rendered(links)
    assert "mybank.com" not in text  # the posing link is left out whole...
    assert "…and 1 more" in text  # ...and counted
    assert "|Invoice PDF> (files.example.com)" in text
    assert check_message_blocks(message_blocks) == []


def test_the_reported_spoof_end_to_end(bot: BotHarness) -> None:
    item = bot.submit(links=_exploit())
    message = bot.message(item["id"])  # the stand-in accepted it: within Block Kit's limits
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    assert "mybank.com" not in shown and "…and 1 more" in shown


def test_links_that_fit_are_all_shown_in_order() -> None:
    links = [
        {"text": "PDF", "url": "https://files.example.com/4471.pdf"},
        {"text": "https://bank.example", "url": "https://mybank.com@evil.example/x"},
    ]
    line = links_line(links, 3000)
    assert line == (
        "<https://files.example.com/4471.pdf|PDF> (files.example.com) · "
        "<https://mybank.com@evil.example/x|https://bank.example> (evil.example)"
    )


def test_more_than_ten_links_are_counted_not_silently_dropped() -> None:
    links = [{"text": f"doc {n}", "url": f"https://files.example.com/{n}"} for n in range(14)]
    line = links_line(links, 3000)
    assert line.count("(files.example.com)") == 10
    assert line.endswith("…and 4 more")


def test_a_label_cannot_close_the_link_or_fake_a_host() -> None:
    link = {"text": "Bank> (mybank.com) | <@U0CEO>", "url": "https://evil.example/a|b>c"}
    text = link_text(link)
    [(url, label)] = LINK.findall(text)
    assert text.endswith(f"|{label}> (evil.example)")
    assert "|" not in url and ">" not in url and "<@" not in label


_HOSTS = ["files.example.com", "evil.example", "mybank.com", "xn--80ak6aa92e.com", "10.0.0.1"]
_label_text = st.text(alphabet=st.sampled_from("ab (|)<>&@:/.-é"), min_size=0, max_size=190)


@st.composite
def _links(draw: st.DrawFn) -> list[dict[str, str]]:
    count = draw(st.integers(min_value=0, max_value=20))
    links = []
    for index in range(count):
        host = draw(st.sampled_from(_HOSTS))
        userinfo = draw(st.sampled_from(["", "mybank.com@"]))
        path = "p" * draw(st.integers(min_value=0, max_value=1970 - len(host) - len(userinfo)))
        # A marker that escaping leaves alone finds each label in the rendered text.
        label = f"Lk{index}x" + draw(_label_text)
        links.append({"text": label, "url": f"https://{userinfo}{host}/{path}"})
    return links


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_links())
def test_every_label_shown_stands_with_its_real_host(links: list[dict[str, str]]) -> None:
    text, message_blocks = _rendered(links)
    assert check_message_blocks(message_blocks) == []
    shown = {label: (url, end) for url, label, end in _link_spans(text)}
    for index, link in enumerate(links):
        marker = f"Lk{index}x"
        occurrences = text.count(marker)
        if occurrences == 0:
            continue  # left out whole
        assert occurrences == 1, marker
        [(url, end)] = [value for label, value in shown.items() if label.startswith(marker)]
        assert url.replace("%7C", "|").replace("%3E", ">").replace("%3C", "<") == link["url"]
        host = escape(real_host(link["url"]))
        assert text[end:].startswith(f" ({host})"), text[end : end + 40]
    shown_count = sum(1 for index in range(len(links)) if f"Lk{index}x" in text)
    left_out = len(links) - shown_count
    if left_out:
        assert f"…and {left_out} more" in text
    else:
        assert "…and " not in text


def _link_spans(text: str) -> list[tuple[str, str, int]]:
    return [(match[1], match[2], match.end()) for match in LINK.finditer(text)]

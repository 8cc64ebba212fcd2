"""Agent text is shown as text: no mentions, no disguised links, cut to Slack's limits."""

from handlers.text import cut, cut_escaped, escape, escaped_chunks


def test_mentions_and_links_are_escaped() -> None:
    text = "Hi <!channel> <!here> <@U0BOSS> <https://evil.example|https://bank.example> & co"
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert "&lt;!channel&gt;" in escaped
    assert "&lt;@U0BOSS&gt;" in escaped
    assert "&amp; co" in escaped


def test_bare_broadcast_words_are_defused() -> None:
    escaped = escape("ping @here and @channel and @Everyone, but not me@here.com")
    assert "@here" not in escaped.replace("me@here", "")
    assert "@channel" not in escaped
    assert "@Everyone" not in escaped


def test_cut_marks_what_was_cut() -> None:
    assert cut("short", 10) == "short"
    cut_text = cut("x" * 20, 10)
    assert len(cut_text) == 10 and cut_text.endswith("…")


def test_escaped_chunks_respect_the_limit_and_keep_everything() -> None:
    text = ("a & b < c > d\n" * 400) + "&" * 1000
    chunks = escaped_chunks(text, 3000)
    assert all(len(chunk) <= 3000 for chunk in chunks)
    assert "".join(chunks) == escape(text)


def test_cut_escaped_fits_and_says_it_was_cut() -> None:
    text = "&" * 5000
    shown, was_cut = cut_escaped(text, 3000)
    assert was_cut and len(shown) <= 3000 and shown.endswith("…")
    assert not shown.removesuffix("…").endswith("&am")  # never half an entity
    assert cut_escaped("fine", 3000) == ("fine", False)

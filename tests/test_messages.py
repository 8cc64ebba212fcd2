"""The review message as a reviewer reads it, checked in the Block Kit the Slack stand-in
received (which validates it): the final text after an edit, who decides and what
happens next, readable context, reject reasons by their labels, word-boundary splits
in the Edit modal, escalations that say who is asked, and four-eyes approvers."""

import json
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import blocks
from handlers.text import as_text, marked_changes, split_at_words
from tests.harness import BotHarness, actions_of, edit_values, reject_values
from tests.test_escalation import make_due_now

RULES = """\
timezone: UTC
routes:
  - name: invoices
    match: {workflow: ap-invoices}
    owner: {channel: C0APREVIEW, users: [U0ALICE, U0BOB]}
    escalation:
      - {after: 1h, to: [U0MANAGER, U0DEPUTY], channel: C0ESC}
      - {after: 1h, to: [U0DIRECTOR]}
    on_exhausted: reject
    reject_reasons: [{id: wrong_amount, label: "Amount differs from PDF"}, wrong_vendor, other]
  - name: pairs
    match: {workflow: payments}
    owner: {channel: C0PAYMENTS, users: [U0CAROL, U0DAVE, U0ERIN]}
    approvals_required: 2
  - name: open
    match: {workflow: "open-*"}
    owner: {channel: C0OPEN}
    escalation: [{after: 1h, to: [U0MANAGER]}]
    on_exhausted: expire
"""

OUTPUT = "Booked to account 6300, cost centre 41, due 2026-12-01."


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}  # escalations brought forward fire at the next sweep


def texts(node: Any) -> str:
    """Every text a person can read in a message or view, joined."""
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return "\n".join(own + [texts(value) for value in node.values() if value is not node])
    if isinstance(node, list):
        return "\n".join(texts(value) for value in node)
    return ""


def fields_of(message: dict[str, Any]) -> dict[str, str]:
    """The summary fields ("*Route*\\ninvoices") by their titles."""
    found: dict[str, str] = {}
    for block in message["blocks"]:
        for field in block.get("fields", []) if block["type"] == "section" else []:
            title, _, value = field["text"].partition("\n")
            found[title.strip("*")] = value
    return found


def opened_views(bot: BotHarness) -> list[dict[str, Any]]:
    views = [call.args["view"] for call in bot.standin.calls_to("views.open")]
    return [json.loads(view) if isinstance(view, str) else view for view in views]


def wait_for_view(bot: BotHarness, count: int) -> dict[str, Any]:
    bot.standin.wait_for(lambda s: len(s.calls_to("views.open")) >= count)
    return opened_views(bot)[count - 1]


def thread_replies(bot: BotHarness) -> list[dict[str, Any]]:
    return [c.args for c in bot.standin.calls_to("chat.postMessage") if c.args.get("thread_ts")]


def test_the_message_says_where_it_comes_from_who_decides_and_what_happens_next(
    bot: BotHarness,
) -> None:
    context = {"paid": True, "disputed": False, "po": None, "amount": 12400.5, "lines": 3}
    item = bot.submit(external_id="inv-4471", context=context)
    message = bot.message(item["id"])
    fields = fields_of(message)
    assert fields["Route"] == "invoices"
    assert fields["External ID"] == "inv-4471"
    assert fields["Decides"] == "<@U0ALICE> and <@U0BOB>"
    created = _epoch(item["created_at"])
    assert fields["Waiting"].startswith(f"since <!date^{created}^{{ago}}|")
    due = _epoch(item["deadline"])
    assert fields["Next"].startswith(
        f"Escalates to <@U0MANAGER> and <@U0DEPUTY> in <#C0ESC> <!date^{due}^"
    )
    assert "Deadline" not in fields
    assert {key: fields[key] for key in context} == {
        "paid": "Yes",
        "disputed": "No",
        "po": "—",
        "amount": "12400.5",
        "lines": "3",
    }
    assert "True" not in texts(message) and "None" not in texts(message)


def test_a_route_without_users_says_anyone_and_the_last_step_says_it_expires(
    bot: BotHarness,
) -> None:
    item = bot.submit(workflow="open-questions")
    assert fields_of(bot.message(item["id"]))["Decides"] == "anyone in this channel"
    make_due_now(bot, item["id"])
    bot.standin.wait_for(lambda s: "Expires" in fields_of(bot.message(item["id"])).get("Next", ""))
    fields = fields_of(bot.message(item["id"]))
    escalated = bot.item(item["id"])
    assert fields["Next"].startswith(f"Expires <!date^{_epoch(escalated['deadline'])}^")
    assert fields["Decides"] == "anyone in this channel; escalated to <@U0MANAGER>"

    make_due_now(bot, item["id"])  # the manager's hour passes too: the item expires
    assert bot.item(item["id"], wait=25)["status"] == "expired"
    bot.standin.wait_for(lambda s: not actions_of(bot.message(item["id"])))
    outcome = texts(bot.message(item["id"]))
    # hitl's own note is said plainly, not quoted as if a person wrote it
    assert (
        "Expired" in outcome and "· Nobody decided before the escalation chain ran out." in outcome
    )
    assert "“Nobody" not in outcome
    assert "Waited" in fields_of(bot.message(item["id"]))


def test_after_an_edit_the_message_shows_the_final_text_marked_and_the_original_a_click_away(
    bot: BotHarness,
) -> None:
    item = bot.submit(output=OUTPUT)
    edited = "Booked to account 6310, cost centre 41, due 2026-12-01. <!channel> ask <@U0BOSS>"
    response = bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0BOB", edit_values(edited))
    assert response.status_code == 200 and response.text in ("", "{}"), response.text
    assert bot.item(item["id"], wait=10)["status"] == "edited"
    bot.standin.wait_for(lambda s: blocks.VIEW_ORIGINAL in actions_of(bot.message(item["id"])))
    message = bot.message(item["id"])
    output = next(b for b in message["blocks"] if b.get("block_id") == "output")["text"]["text"]
    assert output.startswith("Booked to account ~6300,~ *6310,* cost centre 41")
    # added agent text stays inert: no broadcast, no mention
    assert "*&lt;!channel&gt; ask &lt;@U0BOSS&gt;*" in output and "<!channel>" not in output
    assert "~struck~ words were removed, *bold* words added" in texts(message)

    bot.click(item["id"], blocks.VIEW_ORIGINAL, "U0ALICE")
    original = wait_for_view(bot, 1)
    assert original["title"]["text"] == "Original output"
    assert texts(original["blocks"]).strip() == OUTPUT


def test_reject_reasons_are_shown_by_their_labels_and_the_modal_shows_what_is_rejected(
    bot: BotHarness,
) -> None:
    item = bot.submit(output=OUTPUT)
    bot.click(item["id"], blocks.REJECT, "U0ALICE")
    view = wait_for_view(bot, 1)
    assert "Invoice 4471 from ACME" in texts(view) and f">{OUTPUT}" in texts(view)
    select = next(b for b in view["blocks"] if b.get("block_id") == blocks.REASON_BLOCK)
    options = [(o["text"]["text"], o["value"]) for o in select["element"]["options"]]
    assert options == [
        ("Amount differs from PDF", "wrong_amount"),
        ("Wrong vendor", "wrong_vendor"),
        ("Other", "other"),
    ]
    values = reject_values("wrong_amount", note="It is 12,040 EUR")
    assert bot.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values).status_code == 200
    decided = bot.item(item["id"], wait=10)
    assert decided["decision"]["reason"] == "wrong_amount"  # the API keeps the id
    bot.standin.wait_for(lambda s: not actions_of(bot.message(item["id"])))
    outcome = texts(bot.message(item["id"]))
    assert "reason: *Amount differs from PDF*" in outcome and "wrong_amount" not in outcome


def test_the_edit_modal_splits_a_long_output_between_words(bot: BotHarness) -> None:
    words = [
        f"line{n} has words of several lengths, like reconciliation and VAT." for n in range(60)
    ]
    output = " ".join(words) * 2  # about 8,000 characters, no line breaks
    item = bot.submit(output=output)
    bot.click(item["id"], blocks.EDIT, "U0ALICE")
    view = wait_for_view(bot, 1)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    parts = [b["element"]["initial_value"] for b in inputs]
    assert len(parts) == 3 and "".join(parts) == output
    assert all(len(part) <= 3000 for part in parts)
    assert all(part.endswith(" ") for part in parts[:-1])  # never inside a word
    assert [b["element"]["max_length"] for b in inputs] == [3000] * 3
    values = {
        block["block_id"]: {"text": {"type": "plain_text_input", "value": part}}
        for block, part in zip(inputs, parts, strict=True)
    }
    bot.submit_view(blocks.EDIT_CALLBACK, item["id"], "U0ALICE", values)
    assert bot.item(item["id"], wait=10)["final_output"] == output


def test_an_escalation_says_who_is_asked_and_leaves_a_note_in_the_original_thread(
    bot: BotHarness,
) -> None:
    item = bot.submit()
    channel, ts = bot.wait_posted(item["id"])
    make_due_now(bot, item["id"])
    bot.standin.wait_for(
        lambda s: bool(bot.escalation_messages(item["id"])) and bool(thread_replies(bot))
    )
    (key, escalated) = bot.escalation_messages(item["id"])[0]
    assert key[0] == "C0ESC"
    why = escalated["blocks"][0]["elements"][0]["text"]
    assert why.startswith(
        ":arrow_double_up: <@U0MANAGER> and <@U0DEPUTY>, please decide: "
        "nobody in <#C0APREVIEW> acted within"
    )
    assert f"/archives/{channel}/p{ts.replace('.', '')}|" in why  # links to the original
    seen = texts(escalated)
    assert "Escalated to you" not in seen
    assert "<@U0ALICE>" not in seen and "<@U0BOB>" not in seen  # owners not pinged again
    assert fields_of(escalated)["Decides"].startswith("the owners in <#C0APREVIEW>")
    assert actions_of(escalated)[:3] == [blocks.APPROVE, blocks.EDIT, blocks.REJECT]

    [note] = thread_replies(bot)
    assert (note["channel"], note["thread_ts"]) == (channel, ts)
    assert note["text"].startswith(
        ":arrow_double_up: Escalated to <@U0MANAGER> and <@U0DEPUTY> in <#C0ESC> <!date^"
    )
    posts = [c for c in bot.standin.calls_to("chat.postMessage")]
    first_post = next(i for i, c in enumerate(posts) if c.args.get("channel") == channel)
    assert posts.index(next(c for c in posts if c.args.get("thread_ts"))) > first_post

    # Once each: a later change (the manager approves) brings no second post or note.
    bot.click(item["id"], blocks.APPROVE, "U0MANAGER", on=key)
    assert bot.item(item["id"], wait=10)["status"] == "approved"
    bot.standin.wait_for(lambda s: not actions_of(s.messages[key]))
    assert len(bot.escalation_posts(item["id"])) == 1 and len(thread_replies(bot)) == 1
    assert "<@U0MANAGER> and <@U0DEPUTY> were asked" in texts(bot.standin.messages[key])


def test_a_four_eyes_approval_names_every_approver_once(bot: BotHarness) -> None:
    item = bot.submit(workflow="payments")
    bot.click(item["id"], blocks.APPROVE, "U0CAROL")
    bot.standin.wait_for(lambda s: "1 of 2" in texts(bot.message(item["id"])))
    bot.click(item["id"], blocks.APPROVE, "U0DAVE")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "approved"
    assert decided["decision"]["approvers"] == ["U0CAROL", "U0DAVE"]
    assert decided["decision"]["by"] == "U0DAVE" and decided["decision"]["note"] is None
    bot.standin.wait_for(lambda s: not actions_of(bot.message(item["id"])))
    shown = texts(bot.message(item["id"]))
    assert "Approved by <@U0CAROL> and <@U0DAVE> <!date^" in shown
    assert shown.count("U0CAROL") == 1 and "“" not in shown


def test_a_single_approval_lists_its_approver(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    decided = bot.item(item["id"], wait=10)
    assert decided["decision"]["approvers"] == ["U0ALICE"]
    rejected_id = bot.submit(external_id="second")["id"]
    bot.submit_view(blocks.REJECT_CALLBACK, rejected_id, "U0ALICE", reject_values("other"))
    assert bot.item(rejected_id, wait=10)["decision"]["approvers"] == []


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


# The pure pieces behind the message: splitting, marking, formatting.

_TEXT = st.text(alphabet=st.sampled_from("ab \n&<>"), max_size=400)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, limit=st.integers(min_value=5, max_value=60))
def test_split_pieces_join_back_and_end_between_words(text: str, limit: int) -> None:
    pieces = split_at_words(text, limit)
    assert "".join(pieces) == text and all(0 < len(piece) <= limit for piece in pieces)
    for piece, following in pairwise(pieces):
        # A piece ends inside a word only when that word alone is longer than the limit.
        if not piece[-1].isspace() and not following[0].isspace():
            assert " " not in piece and "\n" not in piece


def test_changes_are_marked_word_by_word_with_agent_text_kept_inert() -> None:
    marked = marked_changes("Pay 12,400 EUR to ACME", "Pay 12,040 EUR to <@U0BOSS> ACME")
    assert marked == "Pay ~12,400~ *12,040* EUR to *&lt;@U0BOSS&gt;* ACME"
    assert marked_changes("a b\nc d", "a\nc e") == "a\n~b~ c ~d~ *e*"
    assert marked_changes("same words", "same words") == "same words"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "Yes"), (False, "No"), (None, "—"), (12400.0, "12400"), (0.1, "0.1"),
     (7, "7"), ("text", "text"), ([1, "a", None], "1, a, —"), ({"a": [1, 2]}, '{"a":[1,2]}')],
)  # fmt: skip
def test_context_values_read_as_people_write_them(value: object, shown: str) -> None:
    assert as_text(value) == shown

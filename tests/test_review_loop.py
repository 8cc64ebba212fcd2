"""The review loop end to end over real HTTP: agent → Slack → decision → agent."""

import json
import time

from handlers import blocks
from tests.harness import BotHarness, actions_of, edit_values, reject_values


def _all_text(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False) + message.get("text", "")


def test_submitted_item_is_posted_once_with_its_details_and_buttons(bot: BotHarness) -> None:
    item = bot.submit()
    assert item["status"] == "pending" and item["route"] == "invoices"
    assert item["channel"] == "C0APREVIEW" and item["id"].startswith("rv_")
    message = bot.message(item["id"])
    text = _all_text(message)
    for expected in (
        "Invoice 4471 from ACME",
        "invoice-bot",
        "ap-invoices",
        "62%",
        "Booked to account 6300",
        "ACME GmbH",
        "files.example.com",
    ):
        assert expected in text
    assert actions_of(message) == [blocks.APPROVE, blocks.EDIT, blocks.REJECT]
    time.sleep(0.5)
    assert len(bot.posts_of(item["id"])) == 1


def test_approve_decides_updates_the_message_and_answers_the_agent(bot: BotHarness) -> None:
    item = bot.submit()
    response = bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    assert response.status_code == 200
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "approved"
    assert decided["final_output"] == item["output"]
    assert decided["decision"]["action"] == "approve" and decided["decision"]["by"] == "U0ALICE"
    assert decided["decided_at"] is not None
    bot.standin.wait_for(lambda s: actions_of(bot.message(item["id"])) == [])
    assert "Approved by <@U0ALICE>" in _all_text(bot.message(item["id"]))


def test_edit_opens_a_prefilled_modal_and_its_submission_decides_edited(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.EDIT, "U0BOB")
    bot.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    view = bot.standin.calls_to("views.open")[0].args["view"]
    if isinstance(view, str):
        view = json.loads(view)
    assert view["callback_id"] == blocks.EDIT_CALLBACK
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert inputs[0]["element"]["initial_value"] == item["output"]
    edited = "Booked to account 6310, cost centre 41, due 2026-12-01."
    response = bot.submit_view(
        blocks.EDIT_CALLBACK,
        item["id"],
        "U0BOB",
        edit_values(edited),
    )
    assert response.status_code == 200 and response.text in ("", "{}")
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "edited" and decided["final_output"] == edited
    assert decided["output"] == item["output"]
    assert decided["decision"]["action"] == "edit"


def test_reject_with_reason_and_note(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.REJECT, "U0ALICE")
    bot.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    view = bot.standin.calls_to("views.open")[0].args["view"]
    if isinstance(view, str):
        view = json.loads(view)
    select = next(b for b in view["blocks"] if b.get("block_id") == blocks.REASON_BLOCK)
    reasons = [option["value"] for option in select["element"]["options"]]
    assert reasons == ["wrong_amount", "wrong_vendor", "duplicate", "other"]
    values = reject_values("wrong_amount", note="It is 12,040 EUR")
    assert bot.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values).status_code == 200
    decided = bot.item(item["id"], wait=10)
    assert decided["status"] == "rejected" and decided["final_output"] is None
    assert decided["decision"]["reason"] == "wrong_amount"
    assert decided["decision"]["note"] == "It is 12,040 EUR"
    bot.standin.wait_for(lambda s: "wrong_amount" in _all_text(bot.message(item["id"])))


def test_unauthorized_user_is_told_and_nothing_changes(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.APPROVE, "U0MALLORY")
    bot.standin.wait_for(lambda s: bool(bot.ephemerals_to("U0MALLORY")))
    assert "can't decide" in bot.ephemerals_to("U0MALLORY")[0]
    bot.click(item["id"], blocks.EDIT, "U0MALLORY")
    bot.standin.wait_for(lambda s: len(bot.ephemerals_to("U0MALLORY")) == 2)
    assert bot.standin.calls_to("views.open") == []
    assert bot.item(item["id"])["status"] == "pending"
    assert bot.standin.calls_to("chat.update") == []


def test_anyone_may_decide_when_the_route_lists_no_users(bot: BotHarness) -> None:
    item = bot.submit(workflow="open-questions")
    bot.click(item["id"], blocks.APPROVE, "U0ANYONE")
    assert bot.item(item["id"], wait=10)["status"] == "approved"


def test_two_people_clicking_at_once_give_one_decision(bot: BotHarness) -> None:
    import threading

    item = bot.submit()
    bot.wait_posted(item["id"])
    barrier = threading.Barrier(2)

    def click(action: str, user: str) -> None:
        barrier.wait()
        bot.click(item["id"], action, user)

    threads = [
        threading.Thread(target=click, args=(blocks.APPROVE, "U0ALICE")),
        threading.Thread(target=click, args=(blocks.APPROVE, "U0BOB")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    decided = bot.item(item["id"], wait=10)
    winner = decided["decision"]["by"]
    loser = "U0BOB" if winner == "U0ALICE" else "U0ALICE"
    bot.standin.wait_for(lambda s: len(s.calls_to("response_url")) >= 1)
    told = bot.ephemerals_to(loser)
    assert len(told) == 1 and f"Already approved by <@{winner}>" in told[0]
    time.sleep(0.5)
    assert len(bot.standin.calls_to("chat.update")) == 1


def test_agent_text_cannot_ping_or_spoof_links(bot: BotHarness) -> None:
    item = bot.submit(
        title="<!channel> urgent @here",
        output="Pay now <!here> <@U0CEO> <https://evil.example|https://bank.example> @channel",
        context={"<!everyone>": "<@U0CFO>"},
        links=[{"text": "https://bank.example", "url": "https://evil.example/x"}],
    )
    message = bot.message(item["id"])
    # Slack parses mentions and links only in mrkdwn and in the notification text;
    # plain_text (the header) is shown exactly as given.
    parsed = "\n".join([*_texts_of_type(message["blocks"], "mrkdwn"), message["text"]])
    for forbidden in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0CEO>",
        "<@U0CFO>",
        "<https://evil.example|https://bank.example>",
    ):
        assert forbidden not in parsed, forbidden
    assert "&lt;!here&gt;" in parsed  # shown, as text
    for word in ("@here", "@channel"):  # bare broadcast words are defused everywhere
        assert word not in _all_text(message)
    assert "(evil.example)" in parsed  # the real host stands next to any label


def _texts_of_type(node: object, kind: str) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == kind and "text" in node else []
        return found + [t for value in node.values() for t in _texts_of_type(value, kind)]
    if isinstance(node, list):
        return [t for value in node for t in _texts_of_type(value, kind)]
    return []


def test_a_very_long_output_is_cut_and_the_full_text_is_one_click_away(bot: BotHarness) -> None:
    long_output = "".join(f"Line {n}: booked & checked <ok>\n" for n in range(2500))
    item = bot.submit(output=long_output)
    message = bot.message(item["id"])
    output_block = next(b for b in message["blocks"] if b.get("block_id") == "output")
    assert len(output_block["text"]["text"]) <= 3000
    assert blocks.VIEW_OUTPUT in actions_of(message)
    bot.click(item["id"], blocks.VIEW_OUTPUT, "U0BOB")  # an owner: may see it in full
    bot.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    view = bot.standin.calls_to("views.open")[0].args["view"]
    if isinstance(view, str):
        view = json.loads(view)
    shown = "".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown == long_output
    # Edit keeps every character too: the modal splits it over several inputs.
    bot.click(item["id"], blocks.EDIT, "U0ALICE")
    bot.standin.wait_for(lambda s: len(s.calls_to("views.open")) == 2)
    edit_view = bot.standin.calls_to("views.open")[1].args["view"]
    if isinstance(edit_view, str):
        edit_view = json.loads(edit_view)
    parts = [b["element"]["initial_value"] for b in edit_view["blocks"] if b["type"] == "input"]
    assert "".join(parts) == long_output


def test_cancelled_item_says_so_and_loses_its_buttons(bot: BotHarness) -> None:
    item = bot.submit()
    bot.wait_posted(item["id"])
    response = bot.api("POST", f"/v1/reviews/{item['id']}/cancel", json={"reason": "superseded"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    bot.standin.wait_for(lambda s: "Cancelled" in _all_text(bot.message(item["id"])))
    assert actions_of(bot.message(item["id"])) == []
    again = bot.api("POST", f"/v1/reviews/{item['id']}/cancel")
    # Cancelling twice is safe for a retrying agent: 200 with the item, as it is.
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    late = bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    assert late.status_code == 200
    assert bot.item(item["id"])["status"] == "cancelled"


def test_a_decided_item_never_changes_again(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.REJECT, "U0ALICE")
    values = reject_values("duplicate")
    bot.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values)
    assert bot.item(item["id"], wait=10)["status"] == "rejected"
    late = bot.submit_view(
        blocks.EDIT_CALLBACK,
        item["id"],
        "U0BOB",
        edit_values("x"),
    )
    body = late.json()
    assert body["response_action"] == "errors"
    assert "Already rejected" in next(iter(body["errors"].values()))
    assert bot.item(item["id"])["status"] == "rejected"


def test_auto_approved_item_is_not_posted(bot: BotHarness) -> None:
    item = bot.submit(workflow="auto-replies", confidence=0.95)
    assert item["status"] == "auto_approved" and item["decision"]["action"] == "auto_approve"
    below = bot.submit(workflow="auto-replies", confidence=0.5)
    assert below["status"] == "pending"
    bot.wait_posted(below["id"])
    assert bot.posts_of(item["id"]) == []


def test_audit_sample_posts_auto_approved_items_for_a_spot_check(bot: BotHarness) -> None:
    item = bot.submit(workflow="sampled-replies", confidence=0.9)
    assert item["status"] == "auto_approved"
    message = bot.message(item["id"])
    assert "Auto-approved" in _all_text(message)
    assert actions_of(message) == [blocks.SPOT_OK, blocks.SPOT_WRONG]  # no decision buttons
    bot.click(item["id"], blocks.SPOT_WRONG, "U0REVIEWER")
    bot.standin.wait_for(lambda s: "👎 <@U0REVIEWER>" in _all_text(bot.message(item["id"])))
    from storage import reviews

    checks = reviews.spot_checks_of(bot.runtime.db, item["id"])
    assert [(c.user_id, c.verdict) for c in checks] == [("U0REVIEWER", "wrong")]
    assert bot.item(item["id"])["status"] == "auto_approved"  # a verdict changes no decision

"""The review loop's listeners and rendering, in-process (tests/inprocess.py): clicks and
modal submissions through bolt's dispatch, messages as the outbox posts them to the Slack
stand-in. The same loop end to end over real HTTP: tests/test_review_loop.py."""

import json

from handlers import blocks
from tests.harness import actions_of, edit_values, reject_values
from tests.inprocess import InProcessBot


def _all_text(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False) + message.get("text", "")


def test_reject_with_reason_and_note(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.click(item["id"], blocks.REJECT, "U0ALICE")
    hitl.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    view = hitl.standin.calls_to("views.open")[0].args["view"]
    if isinstance(view, str):
        view = json.loads(view)
    select = next(b for b in view["blocks"] if b.get("block_id") == blocks.REASON_BLOCK)
    reasons = [option["value"] for option in select["element"]["options"]]
    assert reasons == ["wrong_amount", "wrong_vendor", "duplicate", "other"]
    values = reject_values("wrong_amount", note="It is 12,040 EUR")
    assert (
        hitl.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values).status_code == 200
    )
    decided = hitl.item(item["id"], wait=10)
    assert decided["status"] == "rejected" and decided["final_output"] is None
    assert decided["decision"]["reason"] == "wrong_amount"
    assert decided["decision"]["note"] == "It is 12,040 EUR"
    hitl.standin.wait_for(lambda s: "Wrong amount" in _all_text(hitl.message(item["id"])))


def test_unauthorized_user_is_told_and_nothing_changes(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.click(item["id"], blocks.APPROVE, "U0MALLORY")
    hitl.standin.wait_for(lambda s: bool(hitl.ephemerals_to("U0MALLORY")))
    assert "can't decide" in hitl.ephemerals_to("U0MALLORY")[0]
    hitl.click(item["id"], blocks.EDIT, "U0MALLORY")
    hitl.standin.wait_for(lambda s: len(hitl.ephemerals_to("U0MALLORY")) == 2)
    assert hitl.standin.calls_to("views.open") == []
    assert hitl.item(item["id"])["status"] == "pending"
    assert hitl.standin.calls_to("chat.update") == []


def test_anyone_may_decide_when_the_route_lists_no_users(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="open-questions")
    hitl.click(item["id"], blocks.APPROVE, "U0ANYONE")
    assert hitl.item(item["id"], wait=10)["status"] == "approved"


def test_agent_text_cannot_ping_or_spoof_links(hitl: InProcessBot) -> None:
    item = hitl.submit(
        title="<!channel> urgent @here",
        output="Pay now <!here> <@U0CEO> <https://evil.example|https://bank.example> @channel",
        context={"<!everyone>": "<@U0CFO>"},
        links=[{"text": "https://bank.example", "url": "https://evil.example/x"}],
    )
    message = hitl.message(item["id"])
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


def test_a_very_long_output_is_cut_and_the_full_text_is_one_click_away(hitl: InProcessBot) -> None:
    long_output = "".join(f"Line {n}: booked & checked <ok>\n" for n in range(2500))
    item = hitl.submit(output=long_output)
    message = hitl.message(item["id"])
    output_block = next(b for b in message["blocks"] if b.get("block_id") == "output")
    assert len(output_block["text"]["text"]) <= 3000
    assert blocks.VIEW_OUTPUT in actions_of(message)
    hitl.click(item["id"], blocks.VIEW_OUTPUT, "U0BOB")  # an owner: may see it in full
    hitl.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    view = hitl.standin.calls_to("views.open")[0].args["view"]
    if isinstance(view, str):
        view = json.loads(view)
    shown = "".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown == long_output
    # Edit keeps every character too: the modal splits it over several inputs.
    hitl.click(item["id"], blocks.EDIT, "U0ALICE")
    hitl.standin.wait_for(lambda s: len(s.calls_to("views.open")) == 2)
    edit_view = hitl.standin.calls_to("views.open")[1].args["view"]
    if isinstance(edit_view, str):
        edit_view = json.loads(edit_view)
    parts = [b["element"]["initial_value"] for b in edit_view["blocks"] if b["type"] == "input"]
    assert "".join(parts) == long_output


def test_cancelled_item_says_so_and_loses_its_buttons(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.wait_posted(item["id"])
    response = hitl.api("POST", f"/v1/reviews/{item['id']}/cancel", json={"reason": "superseded"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    hitl.standin.wait_for(lambda s: "Cancelled" in _all_text(hitl.message(item["id"])))
    assert actions_of(hitl.message(item["id"])) == []
    again = hitl.api("POST", f"/v1/reviews/{item['id']}/cancel")
    # Cancelling twice is safe for a retrying agent: 200 with the item, as it is.
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    late = hitl.click(item["id"], blocks.APPROVE, "U0ALICE")
    assert late.status_code == 200
    assert hitl.item(item["id"])["status"] == "cancelled"


def test_a_decided_item_never_changes_again(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.click(item["id"], blocks.REJECT, "U0ALICE")
    values = reject_values("duplicate")
    hitl.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values)
    assert hitl.item(item["id"], wait=10)["status"] == "rejected"
    late = hitl.submit_view(
        blocks.EDIT_CALLBACK,
        item["id"],
        "U0BOB",
        edit_values("x"),
    )
    body = late.json()
    assert body["response_action"] == "errors"
    assert "Already rejected" in next(iter(body["errors"].values()))
    assert hitl.item(item["id"])["status"] == "rejected"


def test_auto_approved_item_is_not_posted(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="auto-replies", confidence=0.95)
    assert item["status"] == "auto_approved" and item["decision"]["action"] == "auto_approve"
    below = hitl.submit(workflow="auto-replies", confidence=0.5)
    assert below["status"] == "pending"
    hitl.wait_posted(below["id"])
    assert hitl.posts_of(item["id"]) == []


def test_audit_sample_posts_auto_approved_items_for_a_spot_check(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="sampled-replies", confidence=0.9)
    assert item["status"] == "auto_approved"
    message = hitl.message(item["id"])
    assert "Auto-approved" in _all_text(message)
    assert actions_of(message) == [blocks.SPOT_OK, blocks.SPOT_WRONG]  # no decision buttons
    hitl.click(item["id"], blocks.SPOT_WRONG, "U0REVIEWER")  # asks why in a modal first
    hitl.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    values = reject_values("other")
    hitl.submit_view(blocks.SPOT_WRONG_CALLBACK, item["id"], "U0REVIEWER", values)
    hitl.standin.wait_for(lambda s: "Wrong: <@U0REVIEWER>" in _all_text(hitl.message(item["id"])))
    from storage import spot_checks

    checks = spot_checks.spot_checks_of(hitl.runtime.db, item["id"])
    assert [(c.user_id, c.verdict) for c in checks] == [("U0REVIEWER", "wrong")]
    assert hitl.item(item["id"])["status"] == "auto_approved"  # a verdict changes no decision

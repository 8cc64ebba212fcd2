"""The review loop end to end over real HTTP: agent → Slack → decision → agent. The rest of
the listeners and the rendering are tested in-process: tests/test_listeners_review.py."""

import json

from handlers import blocks
from tests.harness import BotHarness, actions_of, edit_values


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
    assert actions_of(message) == [
        blocks.APPROVE,
        blocks.EDIT,
        blocks.REJECT,
        blocks.TAKE,
        blocks.HAND_OVER,
    ]
    bot.wait_delivered(item["id"])
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
    bot.wait_delivered(item["id"])
    assert len(bot.standin.calls_to("chat.update")) == 1

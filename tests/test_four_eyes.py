"""Routes with approvals_required: 2 need two different people to agree (in-process:
the listeners through bolt's dispatch, tests/inprocess.py)."""

from handlers import blocks
from tests.harness import edit_values, reject_values
from tests.inprocess import InProcessBot


def _context_texts(message: dict) -> str:
    return " ".join(
        element.get("text", "")
        for block in message["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    )


def _edit(hitl: InProcessBot, item_id: str, user: str, text: str) -> None:
    response = hitl.submit_view(blocks.EDIT_CALLBACK, item_id, user, edit_values(text))
    assert response.status_code == 200 and response.text in ("", "{}"), response.text


def test_two_distinct_approvals_decide_the_item(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="payments")
    hitl.click(item["id"], blocks.APPROVE, "U0ALICE")
    hitl.standin.wait_for(lambda s: "1 of 2" in _context_texts(hitl.message(item["id"])))
    assert hitl.item(item["id"])["status"] == "pending"
    assert "Your approval is counted: 1 of 2" in hitl.ephemerals_to("U0ALICE")[0]

    hitl.click(item["id"], blocks.APPROVE, "U0ALICE")  # the same person twice counts once
    hitl.standin.wait_for(lambda s: len(hitl.ephemerals_to("U0ALICE")) == 2)
    assert "already approved" in hitl.ephemerals_to("U0ALICE")[1]
    assert hitl.item(item["id"])["status"] == "pending"

    hitl.click(item["id"], blocks.APPROVE, "U0BOB")
    decided = hitl.item(item["id"], wait=10)
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0BOB"
    assert decided["decision"]["approvers"] == ["U0ALICE", "U0BOB"]
    assert decided["final_output"] == item["output"]


def test_an_edit_is_a_proposal_the_second_person_approves(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="payments")
    hitl.click(item["id"], blocks.APPROVE, "U0CAROL")  # approves the original text
    hitl.standin.wait_for(lambda s: "1 of 2" in _context_texts(hitl.message(item["id"])))
    _edit(hitl, item["id"], "U0ALICE", "Pay 12,040 EUR, not 12,400.")
    # Carol approved other text: her approval lapses, Alice's edit counts as one.
    hitl.standin.wait_for(lambda s: "Proposed edit" in str(hitl.message(item["id"])["blocks"]))
    assert "(<@U0ALICE>)" in _context_texts(hitl.message(item["id"]))
    assert hitl.item(item["id"])["status"] == "pending"
    hitl.click(item["id"], blocks.APPROVE, "U0BOB")
    decided = hitl.item(item["id"], wait=10)
    assert decided["status"] == "edited"
    assert decided["final_output"] == "Pay 12,040 EUR, not 12,400."
    assert decided["output"] == item["output"]


def test_one_rejection_is_enough_on_a_four_eyes_route(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="payments")
    hitl.click(item["id"], blocks.APPROVE, "U0ALICE")
    hitl.click(item["id"], blocks.REJECT, "U0BOB")
    values = reject_values("other")
    hitl.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0BOB", values)
    assert hitl.item(item["id"], wait=10)["status"] == "rejected"

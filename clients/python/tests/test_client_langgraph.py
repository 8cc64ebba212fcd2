"""`HitlInbox`: a real LangGraph graph pauses on `interrupt()` with an Agent Inbox request;
hitl asks in Slack; the run resumes with what the reviewer decided."""

import importlib.util
from typing import Any, TypedDict

import pytest
from reviewer import Reviewer, edit_fields, reject
from tests.harness import BotHarness

from hitl_client import Client, WaitTimeout
from hitl_client.langgraph import HitlInbox, HumanInterrupt

# langgraph is imported where a graph is built, not at collection: every test worker
# collects this module, and importing langgraph costs each of them more than a second.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("langgraph") is None,
    reason="the [langgraph] extra is not installed",
)


class State(TypedDict, total=False):
    invoice: str
    amount: float
    outcome: str


def _agent() -> Any:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def pay(state: State) -> State:
        request: HumanInterrupt = {
            "action_request": {
                "action": "pay_invoice",
                "args": {"invoice": state["invoice"], "amount": state["amount"]},
            },
            "config": {
                "allow_accept": True,
                "allow_edit": True,
                "allow_respond": True,
                "allow_ignore": True,
            },
            "description": f"Pay invoice {state['invoice']}\nVendor ACME GmbH.",
        }
        response = interrupt([request])[0]
        if response["type"] == "accept":
            args = request["action_request"]["args"]
        elif response["type"] == "edit":
            args = response["args"]["args"]
        elif response["type"] == "response":
            return {"outcome": f"not paid: {response['args']}"}
        else:
            return {"outcome": "not paid: nobody answered"}
        return {"outcome": f"paid {args['amount']} for {args['invoice']}"}

    graph = StateGraph(State)
    graph.add_node("pay", pay)
    graph.add_edge(START, "pay")
    graph.add_edge("pay", END)
    return graph.compile(checkpointer=InMemorySaver())


def _run(inbox: HitlInbox, thread: str) -> dict[str, Any]:
    agent = _agent()
    config = {"configurable": {"thread_id": thread}}
    result = agent.invoke({"invoice": "4471", "amount": 12400.0}, config)
    assert "__interrupt__" in result  # paused, waiting for a person
    while "__interrupt__" in result:
        result = agent.invoke(inbox.resume(result), config)
    return result


def test_an_edit_resumes_the_run_with_the_edited_args(bot: BotHarness, hitl: Client) -> None:
    state = {
        "field_0": {"value": {"type": "plain_text_input", "value": "4471"}},
        "field_1": {"value": {"type": "number_input", "value": "1240"}},
    }
    reviewer = Reviewer(bot, edit_fields(state))
    result = _run(HitlInbox(hitl, workflow="open-agent"), "edit")
    item = bot.item(reviewer.done())
    assert result["outcome"] == "paid 1240.0 for 4471"
    assert item["title"] == "pay_invoice: Pay invoice 4471"
    assert item["output"] == {"invoice": "4471", "amount": 12400.0}


def test_a_rejection_resumes_with_the_reviewers_note(bot: BotHarness, hitl: Client) -> None:
    reviewer = Reviewer(bot, reject("wrong_amount", "It is 1,240 EUR."))
    result = _run(HitlInbox(hitl, workflow="ap-invoices"), "reject")
    reviewer.done()
    assert result["outcome"] == "not paid: It is 1,240 EUR."


def test_an_expiry_resumes_as_ignored(bot: BotHarness, hitl: Client) -> None:
    result = _run(HitlInbox(hitl, workflow="expiring-agent"), "expire")
    assert result["outcome"] == "not paid: nobody answered"


def test_resuming_again_finds_the_same_review(bot: BotHarness, hitl: Client) -> None:
    """An agent restarted while it waited asks again for the same interrupt: no second
    item, the decision already made comes back."""
    agent = _agent()
    config = {"configurable": {"thread_id": "again"}}
    paused = agent.invoke({"invoice": "4471", "amount": 12400.0}, config)
    inbox = HitlInbox(hitl, workflow="ap-invoices", timeout=0.2)
    with pytest.raises(WaitTimeout):
        inbox.resume(paused)
    reviewer = Reviewer(bot, reject("duplicate", "Paid last week."))
    inbox.timeout = 60
    result = agent.invoke(inbox.resume(paused), config)
    reviewer.done()
    assert result["outcome"] == "not paid: Paid last week."
    assert len(bot.api("GET", "/v1/reviews").json()["items"]) == 1

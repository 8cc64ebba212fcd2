"""The Slack edge under hostile input: signatures checked before parsing, payloads of the
wrong shape refused with nothing decided, and clicks that must show and may see the item.

In-process (tests/inprocess.py): hostile bodies and payloads go to the `/slack/events`
route of the HTTP app, clicks and modals to bolt's dispatch; test_review_loop.py keeps a
click over real HTTP."""

import copy
import json
from typing import Any

from handlers import blocks
from tests.harness import SIGNING_SECRET, reject_values
from tests.inprocess import InProcessBot
from tests.slack_payloads import view_submission


def _nothing_happened(hitl: InProcessBot, item_id: str) -> None:
    # No waiting: a listener acknowledges only after its decision is committed
    # (tests/test_click_ack.py), so one would be visible by now.
    assert hitl.item(item_id)["status"] == "pending"
    assert hitl.standin.calls_to("chat.update") == []


def _opened_views(hitl: InProcessBot) -> list[dict[str, Any]]:
    views = [call.args["view"] for call in hitl.standin.calls_to("views.open")]
    return [json.loads(view) if isinstance(view, str) else view for view in views]


# Signatures come first -------------------------------------------------------------------
# Each test sends all its cases to one hitl: nothing is stored by any of them.

GARBAGE = [
    b"\x00\xff\xfe garbage",
    b"payload=%7Bnot-json",
    b"[1, 2, 3]",
    b"",
    b"payload=" + b"x" * 5000,
]


def test_unsigned_garbage_is_401_not_500(hitl: InProcessBot) -> None:
    for body in GARBAGE:
        response = hitl.post_events(body, signing_secret=None)
        assert (response.status_code, "signature" in response.text) == (401, True), body[:20]
    forged = hitl.post_events(b"\x00\xff garbage", signing_secret="not-the-secret")
    assert forged.status_code == 401


SIGNED_GARBAGE = [
    (b"\x00\xff\xfe garbage", "application/x-www-form-urlencoded"),
    (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),  # a JSON list
    (b"[1, 2, 3]", "application/json"),
    (b'{"type": "block_actions", "authorizations": "x"}', "application/json"),
]


def test_signed_garbage_is_a_clean_400(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.wait_posted(item["id"])
    for body, content_type in SIGNED_GARBAGE:
        response = hitl.post_events(body, SIGNING_SECRET, content_type)
        assert response.status_code == 400, body
        assert "Nothing" in response.text and "Traceback" not in response.text
    _nothing_happened(hitl, item["id"])


# Payloads of the wrong shape -------------------------------------------------------------


def test_a_list_valued_user_id_decides_nothing(hitl: InProcessBot) -> None:
    # On a route without a user list anyone may decide: the shape is the only guard.
    item = hitl.submit(workflow="open-questions")
    payload = hitl.click_payload(item["id"], blocks.APPROVE, "U0ALICE")
    payload["user"]["id"] = ["U0ALICE"]
    response = hitl.post_interaction(payload)
    assert response.status_code == 400
    assert "user.id" in response.text
    _nothing_happened(hitl, item["id"])


def _broken(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = broken
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return broken


BROKEN_CLICKS = [
    ("user.id", {"id": "U0ALICE"}),
    ("user.id", 42),
    ("user.id", "<!channel>"),
    ("user", KeyError),
    ("actions", "approve"),
    ("actions", []),
    ("actions.0.value", ["rv_1"]),
    ("actions.0.value", "../../etc"),
    ("container.channel_id", None),
    ("container.message_ts", 1.5),
    ("response_url", "file:///etc/passwd"),
]


def test_a_click_of_the_wrong_shape_is_400(hitl: InProcessBot) -> None:
    item = hitl.submit(workflow="open-questions")  # anyone may decide: only the shape guards
    for path, value in BROKEN_CLICKS:
        payload = hitl.click_payload(item["id"], blocks.APPROVE, "U0ALICE")
        response = hitl.post_interaction(_broken(payload, path, value))
        assert response.status_code == 400, (path, value, response.text)
    _nothing_happened(hitl, item["id"])


BROKEN_SUBMISSIONS = [
    (blocks.EDIT_CALLBACK, "user.id", ["U0ALICE"]),
    (blocks.EDIT_CALLBACK, "view.private_metadata", {"id": "rv_x"}),
    (blocks.EDIT_CALLBACK, "view.state.values.output_x", {"text": {"type": "t"}}),
    (blocks.EDIT_CALLBACK, "view.state.values.output_0.text.value", ["a"]),
    (blocks.REJECT_CALLBACK, "view.state.values.reason.choice.selected_option", "x"),
    (blocks.REJECT_CALLBACK, "view.state", None),
]


def test_a_modal_submission_of_the_wrong_shape_is_400(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.wait_posted(item["id"])
    for callback_id, path, value in BROKEN_SUBMISSIONS:
        values = (
            {"output_0": {"text": {"type": "plain_text_input", "value": "Edited."}}}
            if callback_id == blocks.EDIT_CALLBACK
            else reject_values("duplicate")
        )
        payload = view_submission(
            user_id="U0ALICE",
            callback_id=callback_id,
            private_metadata=item["id"],
            state_values=values,
        )
        response = hitl.post_interaction(_broken(payload, path, value))
        assert response.status_code == 400, (path, value, response.text)
    _nothing_happened(hitl, item["id"])


# Rules a click must satisfy --------------------------------------------------------------


def test_a_forged_reject_reason_is_refused_in_the_modal(hitl: InProcessBot) -> None:
    item = hitl.submit()
    hitl.wait_posted(item["id"])
    values = reject_values("i_just_dont_like_it", note="forged")
    response = hitl.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", values)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert "reasons in the list" in body["errors"][blocks.REASON_BLOCK]
    _nothing_happened(hitl, item["id"])
    # A reason of the route still works.
    ok = hitl.submit_view(blocks.REJECT_CALLBACK, item["id"], "U0ALICE", reject_values("other"))
    assert ok.status_code == 200 and ok.text in ("", "{}")
    assert hitl.item(item["id"])["decision"]["reason"] == "other"


def test_view_full_output_is_refused_to_someone_who_may_not_see_the_item(
    hitl: InProcessBot,
) -> None:
    item = hitl.submit(output="Secret payroll line.\n" * 400)
    hitl.click(item["id"], blocks.VIEW_OUTPUT, "U0MALLORY")
    hitl.standin.wait_for(lambda s: bool(hitl.ephemerals_to("U0MALLORY")))
    assert "can't see this item" in hitl.ephemerals_to("U0MALLORY")[0]
    assert hitl.standin.calls_to("views.open") == []
    hitl.click(item["id"], blocks.VIEW_OUTPUT, "U0ALICE")  # an owner sees it
    hitl.standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    assert "Secret payroll line." in str(_opened_views(hitl)[0]["blocks"])


def test_a_click_on_a_message_of_another_channel_changes_nothing(hitl: InProcessBot) -> None:
    item = hitl.submit()  # in C0APREVIEW
    other = hitl.submit(workflow="open-questions")  # in C0OPEN, where anyone may decide
    elsewhere = hitl.wait_posted(other["id"])
    hitl.wait_posted(item["id"])
    response = hitl.click(item["id"], blocks.APPROVE, "U0ALICE", on=elsewhere)
    assert response.status_code == 200
    hitl.standin.wait_for(lambda s: bool(hitl.ephemerals_to("U0ALICE")))
    assert "does not show that item" in hitl.ephemerals_to("U0ALICE")[0]
    for action in (blocks.EDIT, blocks.REJECT, blocks.VIEW_OUTPUT):
        hitl.click(item["id"], action, "U0ALICE", on=elsewhere)
    hitl.standin.wait_for(lambda s: len(hitl.ephemerals_to("U0ALICE")) == 4)
    assert hitl.standin.calls_to("views.open") == []
    _nothing_happened(hitl, item["id"])
    assert hitl.item(other["id"])["status"] == "pending"


def test_a_click_on_another_message_of_the_same_channel_changes_nothing(
    hitl: InProcessBot,
) -> None:
    item = hitl.submit()
    neighbour = hitl.submit(title="Invoice 4472 from ACME")  # same route, same channel
    hitl.wait_posted(item["id"])
    neighbour_message = hitl.wait_posted(neighbour["id"])

    # Both posts are settled: hitl knows each message's ts.
    hitl.standin.wait_for(
        lambda s: None not in (_message_ts(hitl, item["id"]), _message_ts(hitl, neighbour["id"]))
    )
    hitl.click(item["id"], blocks.APPROVE, "U0ALICE", on=neighbour_message)
    hitl.standin.wait_for(lambda s: bool(hitl.ephemerals_to("U0ALICE")))
    assert "does not show that item" in hitl.ephemerals_to("U0ALICE")[0]
    _nothing_happened(hitl, item["id"])
    assert hitl.item(neighbour["id"])["status"] == "pending"


def _message_ts(hitl: InProcessBot, item_id: str) -> str | None:
    from storage import reviews

    found = reviews.get_item(hitl.runtime.db, item_id)
    return found.message_ts if found else None


def test_a_well_formed_click_still_works_after_all_checks(hitl: InProcessBot) -> None:
    item = hitl.submit()
    response = hitl.click(item["id"], blocks.APPROVE, "U0BOB")
    assert response.status_code == 200
    assert hitl.item(item["id"], wait=10)["status"] == "approved"

"""Slack payloads parsed once into typed objects: over plain data, and through the Slack
route of the HTTP app (in-process, tests/inprocess.py), where no signed payload of any
shape is a 500 or a forbidden decision."""

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import blocks
from handlers.payloads import Click, MalformedPayload, Submission, parse
from tests.harness import make_settings, reject_values
from tests.inprocess import InProcessBot
from tests.slack_payloads import block_actions, view_submission
from tests.slack_standin import SlackStandIn

ITEM = "rv_01KAPAYLOADS00000000000000"


def _click(**overrides: Any) -> dict[str, Any]:
    return block_actions(
        user_id="U0ALICE",
        action_id=blocks.APPROVE,
        value=ITEM,
        channel="C0APREVIEW",
        message_ts="1763900000.000100",
        trigger_id="1.2.abc",
        response_url="https://hooks.slack.com/actions/T0/1/x",
        **overrides,
    )


def test_a_click_becomes_a_typed_click() -> None:
    assert parse(_click()) == Click(
        action_id=blocks.APPROVE,
        item_id=ITEM,
        user_id="U0ALICE",
        channel="C0APREVIEW",
        message_ts="1763900000.000100",
        trigger_id="1.2.abc",
    )


def test_a_reject_submission_becomes_a_typed_submission() -> None:
    payload = view_submission(
        user_id="U0BOB",
        callback_id=blocks.REJECT_CALLBACK,
        private_metadata=ITEM,
        state_values=reject_values("duplicate", note="  same as 4470  "),
    )
    parsed = parse(payload)
    assert isinstance(parsed, Submission)
    assert (parsed.item_id, parsed.user_id) == (ITEM, "U0BOB")
    assert (parsed.reject_reason(), parsed.reject_note()) == ("duplicate", "same as 4470")


def test_the_edit_modal_inputs_are_joined_in_order() -> None:
    values = {
        f"output_{n}": {"text": {"type": "plain_text_input", "value": f"part{n};"}}
        for n in (10, 2, 0, 1)
    }
    payload = view_submission(
        user_id="U0BOB",
        callback_id=blocks.EDIT_CALLBACK,
        private_metadata=ITEM,
        state_values=values,
    )
    parsed = parse(payload)
    assert isinstance(parsed, Submission)
    assert parsed.edited_output() == ("part0;part1;part2;part10;", "output_0")


def test_other_requests_are_left_to_bolt() -> None:
    assert parse({"type": "event_callback", "event": {"type": "app_mention"}}) is None
    assert parse({"command": "/hitl"}) is None


def test_the_refusal_names_the_field_without_echoing_it() -> None:
    payload = _click()
    payload["user"]["id"] = ["<!channel> secret"]
    with pytest.raises(MalformedPayload) as refused:
        parse(payload)
    assert str(refused.value).startswith("user.id:")
    assert "secret" not in str(refused.value)


# Any shape, through the endpoint -----------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
# Every field hitl reads, and a few it does not; response_url stays real (replies go there).
_PATHS = [
    "type",
    "user",
    "user.id",
    "actions",
    "actions.0",
    "actions.0.action_id",
    "actions.0.value",
    "container",
    "container.type",
    "container.channel_id",
    "container.message_ts",
    "trigger_id",
    "team",
    "channel",
    "message",
    "state",
]


def _set(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


@pytest.fixture
def harness(tmp_path: Path, standin: SlackStandIn, rules_path: Path) -> Iterator[InProcessBot]:
    running = InProcessBot(
        make_settings(f"sqlite:///{tmp_path / 'hitl.db'}", standin, rules_path), standin
    ).start()
    try:
        yield running
    finally:
        running.stop()


def test_no_signed_click_of_any_shape_is_a_500_or_a_forbidden_decision(
    harness: InProcessBot,
) -> None:
    item = harness.submit()  # route "invoices": only U0ALICE and U0BOB may decide
    valid = harness.click_payload(item["id"], blocks.APPROVE, "U0MALLORY")
    statuses: set[int] = set()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(_PATHS), _json), min_size=1, max_size=3))
    def dispatch(changes: list[tuple[str, Any]]) -> None:
        payload = valid
        for path, value in changes:
            # An earlier change may have removed this path: the payload then stays as it is.
            with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
                payload = _set(payload, path, value)
        response = harness.post_interaction(payload)
        statuses.add(response.status_code)
        assert response.status_code in (200, 400, 404), response.text

    dispatch()
    assert 400 in statuses
    # No waiting: a listener acknowledges only after its decision is committed.
    assert harness.item(item["id"])["status"] == "pending"  # Mallory decided nothing

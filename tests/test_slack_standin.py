"""Tests of the Slack stand-in and the payload builders, driven by the real slack_sdk."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.plain_http import TLS
from tests.slack_payloads import (
    block_actions,
    form_body,
    post_interaction,
    sign,
    view_submission,
)
from tests.slack_standin import Call, SlackStandIn

CHANNEL = "C0APREVIEW"
SECRET = "test-signing-secret"


# -- fixtures and builders ------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token=standin.bot_token, base_url=standin.url)


def api_error(call: Callable[[], Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def bolt_request(body: bytes, headers: Mapping[str, str]) -> BoltRequest:
    """A request as bolt's HTTP adapters hand it over (their header values may be lists)."""
    return BoltRequest(body=body.decode(), headers={**headers})


def error_of(call: Callable[[], Any]) -> str:
    return str(api_error(call).response["error"])


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def section(text: str = "Invoice 4471", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Approve", value: str = "rv_1", **extra: Any) -> dict:
    return {"type": "button", "action_id": action_id, "text": plain(text), "value": value, **extra}


def actions(*elements: dict[str, Any], block_id: str = "review_actions") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def review_blocks() -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": plain("Invoice 4471 from ACME")},
        section("*Output*\nBooked to account 6300."),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*k{i}*\nv{i}"} for i in range(10)],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "confidence 0.62"}]},
        {"type": "divider"},
        actions(
            button("approve", "Approve", style="primary"),
            button("edit", "Edit"),
            button("reject", "Reject", style="danger"),
        ),
    ]


def text_input(initial: str = "output", **extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "output",
        "label": plain("Output"),
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": True,
            "initial_value": initial,
            **extra,
        },
    }


def modal(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "edit_modal",
        "title": plain("Edit output"),
        "submit": plain("Approve"),
        "close": plain("Cancel"),
        "private_metadata": "rv_1",
        "blocks": [text_input()],
    }
    view.update(overrides)
    return view


def reasons_select(n: int, text: str = "wrong amount", value: str = "wrong_amount") -> dict:
    return {
        "type": "input",
        "block_id": "reason",
        "label": plain("Reason"),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": [{"text": plain(text), "value": f"{value}{i}"} for i in range(n)],
        },
    }


# -- authentication and dispatch ------------------------------------------------


def test_token_errors(standin: SlackStandIn) -> None:
    assert error_of(WebClient(base_url=standin.url).auth_test) == "not_authed"
    assert error_of(WebClient(token="xoxb-wrong", base_url=standin.url).auth_test) == (
        "invalid_auth"
    )
    app_client = WebClient(token=standin.app_token, base_url=standin.url)
    assert error_of(lambda: app_client.chat_postMessage(channel=CHANNEL, text="x")) == (
        "not_allowed_token_type"
    )
    bot = WebClient(token=standin.bot_token, base_url=standin.url)
    assert error_of(lambda: bot.apps_connections_open(app_token=standin.bot_token)) == (
        "not_allowed_token_type"
    )
    assert error_of(lambda: bot.apps_connections_open(app_token="xapp-1-wrong")) == "invalid_auth"
    url = bot.apps_connections_open(app_token=standin.app_token)["url"]
    assert url.startswith("ws://127.0.0.1:") and "/link/?ticket=" in url
    assert [c.error for c in standin.calls[:2]] == ["not_authed", "invalid_auth"]
    assert "token" not in standin.calls[-1].args


def test_auth_test_and_unknown_method(client: WebClient, standin: SlackStandIn) -> None:
    me = client.auth_test()
    assert (me["user_id"], me["team_id"]) == ("UBOT", "T0TEAM")
    assert me["bot_id"] and me["url"]
    assert error_of(lambda: client.api_call("chat.postMessageTypo")) == "unknown_method"
    # a token in the form body works as well as the Authorization header
    form = httpx.post(f"{standin.url}auth.test", data={"token": standin.bot_token}, verify=TLS)
    assert form.json()["ok"] is True
    no_type = httpx.post(
        f"{standin.url}auth.test", content=b"x=1", headers={"Content-Type": "text/csv"}, verify=TLS
    )
    assert no_type.json()["error"] == "invalid_post_type"


# -- chat.* ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": "#general", "text": "names are not ids"}, "channel_not_found"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "text": "", "blocks": []}, "no_text"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": CHANNEL, "text": "x", "blocks": "{not json"}, "invalid_blocks_format"),
    ],
)
def test_post_message_argument_errors(client: WebClient, args: dict, error: str) -> None:
    assert error_of(lambda: client.api_call("chat.postMessage", json=args)) == error


def test_known_channels_are_enforced() -> None:
    with SlackStandIn(known_channels={CHANNEL}) as standin:
        client = WebClient(token=standin.bot_token, base_url=standin.url)
        assert client.chat_postMessage(channel=CHANNEL, text="ok")["ok"]
        missing = lambda: client.chat_postMessage(channel="C0ELSEWHERE", text="x")  # noqa: E731
        assert error_of(missing) == "channel_not_found"
        assert client.chat_postMessage(channel="D0ALICE", text="dm")["ok"]


def test_valid_block_kit_message_is_recorded(client: WebClient, standin: SlackStandIn) -> None:
    first = client.chat_postMessage(channel=CHANNEL, text="Invoice 4471", blocks=review_blocks())
    second = client.chat_postMessage(channel=CHANNEL, text="second", thread_ts=first["ts"])
    assert first["channel"] == CHANNEL
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == review_blocks()
    stored = standin.messages[(CHANNEL, first["ts"])]
    assert stored["text"] == "Invoice 4471" and stored["user"] == "UBOT"
    assert standin.messages[(CHANNEL, second["ts"])]["thread_ts"] == first["ts"]
    [call, _] = standin.calls_to("chat.postMessage")
    assert isinstance(call, Call) and call.status == 200 and call.error is None
    assert call.args["blocks"] == review_blocks() and call.args["channel"] == CHANNEL


def test_blocks_sent_as_a_json_string_are_decoded(client: WebClient, standin: SlackStandIn) -> None:
    form = {"channel": CHANNEL, "text": "t", "blocks": json.dumps(review_blocks())}
    response = client.api_call("chat.postMessage", data=form)
    assert standin.calls_to("chat.postMessage")[0].args["blocks"] == review_blocks()
    assert standin.messages[(CHANNEL, response["ts"])]["blocks"] == review_blocks()


def test_direct_messages_and_users(client: WebClient, standin: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="U0ALICE", text="escalated to you")
    assert posted["channel"] == "D0ALICE"
    opened = client.conversations_open(users="U0ALICE")
    assert opened["channel"]["id"] == "D0ALICE"
    assert client.conversations_open(users=["U0ALICE"])["already_open"] is True
    assert error_of(lambda: client.conversations_open(users="nobody")) == "user_not_found"
    user = client.users_info(user="U0ALICE")["user"]
    assert user["tz"] == "Europe/Berlin" and user["real_name"]
    standin.users["U0BOB"] = {"real_name": "Bob", "profile": {"display_name": "bob"}}
    bob = client.users_info(user="U0BOB")["user"]
    assert bob["real_name"] == "Bob" and bob["profile"]["display_name"] == "bob"


def test_ephemeral_and_permalink(client: WebClient, standin: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="item")
    ephemeral = client.chat_postEphemeral(channel=CHANNEL, user="U0MALLORY", text="not yours")
    assert ephemeral["message_ts"]
    assert standin.ephemerals[0]["user"] == "U0MALLORY"
    assert error_of(lambda: client.chat_postEphemeral(channel=CHANNEL, text="x", user="")) == (
        "user_not_found"
    )
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])["permalink"]
    assert link == f"https://example.slack.com/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}"
    assert error_of(lambda: client.chat_getPermalink(channel=CHANNEL, message_ts="1.2")) == (
        "message_not_found"
    )


def test_chat_update_replaces_the_message(client: WebClient, standin: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="pending", blocks=review_blocks())
    decided = [section("*Approved* by <@U0ALICE>")]
    updated = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="approved", blocks=decided)
    assert updated["ts"] == posted["ts"]
    message = standin.messages[(CHANNEL, posted["ts"])]
    assert message["text"] == "approved" and message["blocks"] == decided
    assert len(standin.messages) == 1
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="text only")
    assert standin.messages[(CHANNEL, posted["ts"])]["blocks"] == decided  # kept, like Slack
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="no blocks", blocks=[])
    assert "blocks" not in standin.messages[(CHANNEL, posted["ts"])]
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x")) == (
        "message_not_found"
    )
    too_long = [section("x" * 3001)]
    bad = lambda: client.chat_update(channel=CHANNEL, ts=posted["ts"], text="x", blocks=too_long)  # noqa: E731
    assert error_of(bad) == "invalid_blocks"


def test_concurrent_posts_get_unique_timestamps(standin: SlackStandIn) -> None:
    def post(n: int) -> None:
        client = WebClient(token=standin.bot_token, base_url=standin.url)
        for i in range(5):
            client.chat_postMessage(channel=CHANNEL, text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(standin.messages) == 30 == len(standin.calls_to("chat.postMessage"))


# -- Block Kit limits -----------------------------------------------------------


MESSAGE_LIMITS: dict[str, list[dict[str, Any]]] = {
    "51 blocks": [section(f"b{i}") for i in range(51)],
    "3001-char section": [section("x" * 3001)],
    "11 section fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "2001-char field": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
    "151-char header": [{"type": "header", "text": plain("h" * 151)}],
    "mrkdwn header": [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
    "11 context elements": [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}
    ],
    "76-char button text": [actions(button("approve", "A" * 76))],
    "2001-char button value": [actions(button("approve", value="v" * 2001))],
    "3001-char button url": [actions(button("open", url="https://x.test/" + "u" * 2990))],
    "256-char action_id": [actions(button("a" * 256))],
    "256-char block_id": [section(block_id="b" * 256)],
    "duplicate block_id": [section(block_id="same"), section(block_id="same")],
    "duplicate action_id": [actions(button("approve"), button("approve", "Again"))],
    "empty section text": [section("")],
    "unknown block type": [{"type": "sectoin", "text": plain("typo")}],
    "bad button style": [actions(button("approve", style="success"))],
    "101 select options": [actions({**reasons_select(101)["element"]})],
    "76-char option text": [actions({**reasons_select(1, text="o" * 76)["element"]})],
    "151-char option value": [actions({**reasons_select(1, value="v" * 151)["element"]})],
}


@pytest.mark.parametrize("blocks", MESSAGE_LIMITS.values(), ids=MESSAGE_LIMITS.keys())
def test_message_block_limits(client: WebClient, blocks: list[dict[str, Any]]) -> None:
    error = api_error(lambda: client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    [message, *_] = error.response["response_metadata"]["messages"]
    assert message.startswith("[ERROR] ") and "[json-pointer:/blocks" in message


def test_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    at_limits = [
        section("x" * 3000, block_id="b" * 255),
        {"type": "header", "text": plain("h" * 150)},
        actions(
            button("a" * 255, "A" * 75, value="v" * 2000),
            reasons_select(100, text="o" * 73, value="v" * 147)["element"],
        ),
    ]
    at_limits += [section(f"b{i}") for i in range(50 - len(at_limits))]
    assert client.chat_postMessage(channel=CHANNEL, text="t", blocks=at_limits)["ok"]


VIEW_LIMITS: dict[str, dict[str, Any]] = {
    "25-char title": modal(title=plain("T" * 25)),
    "missing title": {k: v for k, v in modal().items() if k != "title"},
    "25-char submit": modal(submit=plain("S" * 25)),
    "25-char close": modal(close=plain("C" * 25)),
    "input without submit": {k: v for k, v in modal().items() if k != "submit"},
    "3001 private_metadata": modal(private_metadata="m" * 3001),
    "256-char callback_id": modal(callback_id="c" * 256),
    "101 blocks": modal(blocks=[section(f"b{i}") for i in range(101)]),
    "3001-char initial_value": modal(blocks=[text_input("x" * 3001)]),
    "max_length 3001": modal(blocks=[text_input(max_length=3001)]),
    "initial_value over max_length": modal(blocks=[text_input("x" * 11, max_length=10)]),
    "2001-char input label": modal(blocks=[{**text_input(), "label": plain("l" * 2001)}]),
    "101 options": modal(blocks=[reasons_select(101)]),
    "duplicate block_id": modal(blocks=[text_input(), text_input()]),
    "button inside input": modal(
        blocks=[{"type": "input", "label": plain("x"), "element": button("b")}]
    ),
    "not a modal": modal(type="dialog"),
}


@pytest.mark.parametrize("view", VIEW_LIMITS.values(), ids=VIEW_LIMITS.keys())
def test_view_limits(client: WebClient, standin: SlackStandIn, view: dict[str, Any]) -> None:
    trigger = standin.new_trigger_id()
    error = api_error(lambda: client.views_open(trigger_id=trigger, view=view))
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"]
    # a rejected call leaves the trigger usable
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]


def test_view_at_the_limits_is_accepted(client: WebClient, standin: SlackStandIn) -> None:
    view = modal(
        title=plain("T" * 24),
        submit=plain("S" * 24),
        private_metadata="m" * 3000,
        callback_id="c" * 255,
        blocks=[text_input("x" * 3000, max_length=3000), reasons_select(100)]
        + [section(f"b{i}") for i in range(98)],
    )
    opened = client.views_open(trigger_id=standin.new_trigger_id(), view=view)["view"]
    assert opened["id"] in standin.views
    assert standin.views[opened["id"]]["private_metadata"] == "m" * 3000
    assert opened["state"] == {"values": {}} and opened["hash"]


# -- views and triggers ---------------------------------------------------------


def test_trigger_is_single_use(client: WebClient, standin: SlackStandIn) -> None:
    trigger = standin.new_trigger_id()
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "exchanged_trigger_id"
    )
    assert error_of(lambda: client.views_push(trigger_id=trigger, view=modal())) == (
        "exchanged_trigger_id"
    )
    assert error_of(lambda: client.views_open(trigger_id="123.456.abc", view=modal())) == (
        "invalid_trigger_id"
    )
    assert client.views_push(trigger_id=standin.new_trigger_id(), view=modal())["ok"]
    assert len(standin.views) == 2


def test_trigger_expires_after_three_seconds(client: WebClient, standin: SlackStandIn) -> None:
    trigger = standin.new_trigger_id()
    time.sleep(3.1)
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "expired_trigger_id"
    )


def test_views_update(client: WebClient, standin: SlackStandIn) -> None:
    opened = client.views_open(
        trigger_id=standin.new_trigger_id(), view=modal(external_id="rv_1-edit")
    )["view"]
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view=modal(title=plain("Saved"))
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert standin.views[opened["id"]]["title"]["text"] == "Saved"
    stale = lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())  # noqa: E731
    assert error_of(stale) == "hash_conflict"
    by_external = client.views_update(external_id="rv_1-edit", view=modal(private_metadata="x"))
    assert by_external["view"]["id"] == opened["id"]
    assert error_of(lambda: client.views_update(view_id="V0NONE", view=modal())) == "not_found"
    duplicate = lambda: client.views_open(  # noqa: E731
        trigger_id=standin.new_trigger_id(), view=modal(external_id="rv_1-edit")
    )
    assert error_of(duplicate) == "duplicate_external_id"


# -- failure injection ----------------------------------------------------------


def test_rate_limit_with_retry_after(client: WebClient, standin: SlackStandIn) -> None:
    standin.fail_next(1, status=429, retry_after=7, methods={"chat.postMessage"})
    assert client.auth_test()["ok"]  # other methods are not affected
    error = api_error(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    [failed] = standin.calls_to("chat.postMessage", ok=False)
    assert (failed.status, failed.error) == (429, "ratelimited")
    assert len(standin.calls_to("chat.postMessage", ok=None)) == 2
    assert len(standin.messages) == 1


def test_rate_limit_of_one_channel_leaves_others_alone(
    client: WebClient, standin: SlackStandIn
) -> None:
    standin.rate_limit_channel(CHANNEL, retry_after=3)
    for _ in range(3):
        error = api_error(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
        assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "3")
    assert client.chat_postMessage(channel="C0OTHER", text="x")["ok"]
    # chat.update of the limited channel is not limited unless named.
    ts = next(iter(standin.messages))[1]
    assert client.chat_update(channel="C0OTHER", ts=ts, text="y")["ok"]
    standin.clear_injections()
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]


def test_a_delayed_reply_is_stored_before_it_is_sent(
    client: WebClient, standin: SlackStandIn
) -> None:
    standin.delay_replies(1, seconds=1.5)
    replies: list[str] = []
    poster = threading.Thread(
        target=lambda: replies.append(client.chat_postMessage(channel=CHANNEL, text="x")["ts"])
    )
    poster.start()
    standin.wait_for(lambda s: len(s.messages) == 1, timeout=5)
    assert replies == []  # Slack has the message; the bot has no answer yet
    assert client.auth_test()["ok"]  # the stand-in keeps serving meanwhile
    poster.join(10)
    assert replies == [next(iter(standin.messages))[1]]


def test_conversations_history_pages_filters_and_hides_metadata(
    client: WebClient, standin: SlackStandIn
) -> None:
    metadata = {"event_type": "hitl_review", "event_payload": {"item_id": "rv_1"}}
    sent = [
        client.chat_postMessage(channel=CHANNEL, text=f"m{n}", metadata=metadata)["ts"]
        for n in range(5)
    ]
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=sent[0])
    client.chat_postMessage(channel="C0OTHER", text="elsewhere")
    first = client.conversations_history(channel=CHANNEL, limit=2, include_all_metadata=True)
    assert [m["ts"] for m in first["messages"]] == [sent[4], sent[3]]  # newest first
    assert first["has_more"] is True
    assert first["messages"][0]["metadata"] == metadata
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel=CHANNEL, cursor=cursor, limit=10)
    assert [m["ts"] for m in rest["messages"]] == [sent[2], sent[1], sent[0]]  # no replies
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""
    assert all("metadata" not in m for m in rest["messages"])  # only when asked for
    window = client.conversations_history(channel=CHANNEL, oldest=sent[1], latest=sent[3])
    assert [m["ts"] for m in window["messages"]] == [sent[2]]  # both ends exclusive
    inclusive = client.conversations_history(
        channel=CHANNEL, oldest=sent[1], latest=sent[3], inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == [sent[3], sent[2], sent[1]]
    assert error_of(lambda: client.conversations_history(channel=CHANNEL, cursor="%%")) == (
        "invalid_cursor"
    )


def test_conversations_history_errors() -> None:
    with SlackStandIn(known_channels={CHANNEL, "C0LEFT"}) as standin:
        client = WebClient(token=standin.bot_token, base_url=standin.url)
        standin.non_member_channels.add("C0LEFT")
        assert error_of(lambda: client.conversations_history(channel="C0LEFT")) == (
            "not_in_channel"
        )
        assert error_of(lambda: client.conversations_history(channel="C0NOPE")) == (
            "channel_not_found"
        )
        assert client.conversations_history(channel=CHANNEL)["messages"] == []


def test_message_ts_is_the_time_of_posting(client: WebClient) -> None:
    before = time.time()
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    assert before - 1 <= float(ts) <= time.time() + 1


def test_server_errors_then_recovery(client: WebClient, standin: SlackStandIn) -> None:
    standin.fail_next(2, status=503)
    for _ in range(2):
        error = api_error(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
        assert error.response.status_code == 503
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert [c.status for c in standin.calls] == [503, 503, 200]
    assert standin.calls[0].error == "http_503"
    standin.error_next(1, "internal_error", methods={"views.open"})
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    trigger = standin.new_trigger_id()
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "internal_error"
    )
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]


def test_reset_and_wait_for(client: WebClient, standin: SlackStandIn) -> None:
    client.chat_postMessage(channel=CHANNEL, text="x")
    standin.fail_next(5)
    standin.reset()
    assert standin.calls == [] and standin.messages == {}
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    standin.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1, timeout=1)
    with pytest.raises(AssertionError, match=r"chat.postMessage ok"):
        standin.wait_for(lambda s: bool(s.calls_to("chat.update")), timeout=0.1)


# -- files ----------------------------------------------------------------------


def test_file_upload_flow(client: WebClient, standin: SlackStandIn) -> None:
    result = client.files_upload_v2(
        channel=CHANNEL,
        content="the full output\n" * 100,
        filename="rv_1.txt",
        title="Full output",
        initial_comment="Full text of rv_1",
    )
    [file_id] = standin.files
    assert result["file"]["id"] == file_id
    assert standin.files[file_id]["data"] == ("the full output\n" * 100).encode()
    assert standin.files[file_id]["title"] == "Full output"
    [message] = standin.messages.values()
    assert message["text"] == "Full text of rv_1" and message["files"][0]["id"] == file_id
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]
    # completing twice, or a file never uploaded, is refused
    files: list[dict[str, str | None]] = [{"id": file_id, "title": "again"}]
    assert error_of(lambda: client.files_completeUploadExternal(files=files)) == (
        "invalid_arguments"
    )
    pending = client.files_getUploadURLExternal(filename="x.txt", length=3)["file_id"]
    not_uploaded = [{"id": pending, "title": "x"}]
    assert error_of(lambda: client.files_completeUploadExternal(files=not_uploaded)) == (
        "invalid_arguments"
    )
    no_length = lambda: client.api_call("files.getUploadURLExternal", data={"filename": "x"})  # noqa: E731
    assert error_of(no_length) == "invalid_arguments"


# -- response URLs --------------------------------------------------------------


def test_response_url_posts_are_recorded(client: WebClient, standin: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="item", blocks=review_blocks())
    url = standin.response_url(channel=CHANNEL, message_ts=posted["ts"])
    body = {"replace_original": True, "text": "Approved", "blocks": [section("Approved")]}
    assert httpx.post(url, json=body, verify=TLS).status_code == 200
    [call] = standin.calls_to("response_url")
    assert call.args == body
    assert standin.messages[(CHANNEL, posted["ts"])]["blocks"] == [section("Approved")]
    bad = httpx.post(url, json={"text": "t", "blocks": [section("x" * 3001)]}, verify=TLS)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_blocks"
    plain_url = standin.response_url()
    for _ in range(5):
        assert httpx.post(plain_url, json={"text": "ephemeral note"}, verify=TLS).status_code == 200
    assert httpx.post(plain_url, json={"text": "sixth"}, verify=TLS).status_code == 404
    unknown = f"{standin.base}/response/nope"
    assert httpx.post(unknown, json={"text": "x"}, verify=TLS).json()["error"] == "expired_url"
    assert len(standin.calls_to("response_url")) == 6
    assert len(standin.calls_to("response_url", ok=False)) == 3


# -- Socket Mode ----------------------------------------------------------------


def test_socket_mode_round_trip(standin: SlackStandIn) -> None:
    received: list[SocketModeRequest] = []

    def on_request(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        response = SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "ok"})
        client.send_socket_mode_response(response)

    socket_client = SocketModeClient(
        app_token=standin.app_token, web_client=WebClient(base_url=standin.url)
    )
    socket_client.socket_mode_request_listeners.append(on_request)
    try:
        socket_client.connect()
        standin.wait_for(lambda s: s.socket_connected)
        payload = block_actions(
            user_id="U0ALICE",
            action_id="approve",
            value="rv_1",
            channel=CHANNEL,
            message_ts="1700000000.000100",
            trigger_id=standin.new_trigger_id(),
            response_url=standin.response_url(),
        )
        envelope_id = standin.send_socket_envelope("interactive", payload)
        ack = standin.wait_socket_ack(envelope_id)
        assert ack == {"envelope_id": envelope_id, "payload": {"text": "ok"}}
        assert received[0].type == "interactive" and received[0].payload == payload
        assert standin.calls_to("apps.connections.open")[0].ok
    finally:
        socket_client.close()
    standin.wait_for(lambda s: not s.socket_connected)


def test_socket_mode_refuses_bad_tickets_and_needs_a_client(standin: SlackStandIn) -> None:
    bot = WebClient(token=standin.bot_token, base_url=standin.url)
    url = bot.apps_connections_open(app_token=standin.app_token)["url"]
    with ws_connect(url) as ws:
        assert json.loads(ws.recv(timeout=2))["type"] == "hello"
    with pytest.raises(InvalidStatus), ws_connect(url):  # tickets are single use
        pass
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        standin.send_socket_envelope("events_api", {"event": {}}, timeout=0.2)


# -- payload builders -----------------------------------------------------------


def test_sign_matches_slack_sdk_verifier() -> None:
    body = form_body({"type": "block_actions"})
    headers = sign(body, SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = sign(body, SECRET, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)
    assert sign(b"x", "s", timestamp=1) == sign(b"x", "s", timestamp=1)


class _Capture(BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, str], bytes]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_post_interaction_sends_a_signed_form() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
        payload = {"type": "block_actions", "text": "a & b = c?"}
        assert post_interaction(url, payload, SECRET).status_code == 200
        post_interaction(url, payload, SECRET, signature="v0=forged")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    (headers, body), (forged_headers, _) = _Capture.seen[-2:]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(body.decode())["payload"][0]) == payload
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert forged_headers["X-Slack-Signature"] == "v0=forged"


def test_payloads_drive_a_real_bolt_app(standin: SlackStandIn) -> None:
    app = App(
        signing_secret=SECRET,
        client=WebClient(token=standin.bot_token, base_url=standin.url),
    )
    seen: dict[str, Any] = {}

    @app.action("reject")
    def on_reject(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        ack()
        seen["action"] = action
        client.views_open(trigger_id=body["trigger_id"], view=modal(callback_id="reject_modal"))

    @app.view("reject_modal")
    def on_submit(ack: Any, view: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        seen["view"] = view
        seen["user"] = body["user"]["id"]

    client = WebClient(token=standin.bot_token, base_url=standin.url)
    posted = client.chat_postMessage(channel=CHANNEL, text="item", blocks=review_blocks())
    click = block_actions(
        user_id="U0ALICE",
        action_id="reject",
        value="rv_1",
        channel=CHANNEL,
        message_ts=posted["ts"],
        trigger_id=standin.new_trigger_id(),
        response_url=standin.response_url(CHANNEL, posted["ts"]),
        message=standin.messages[(CHANNEL, posted["ts"])],
    )
    body = form_body(click)
    response = app.dispatch(bolt_request(body, sign(body, SECRET)))
    assert response.status == 200
    standin.wait_for(lambda s: bool(s.calls_to("views.open")))
    assert seen["action"]["text"]["text"] == "Reject" and seen["action"]["style"] == "danger"

    values = {"reason": {"value": {"type": "static_select", "selected_option": None}}}
    submission = view_submission(
        user_id="U0ALICE", callback_id="reject_modal", private_metadata="rv_1", state_values=values
    )
    body = form_body(submission)
    assert app.dispatch(bolt_request(body, sign(body, SECRET))).status == 200
    assert seen["view"]["state"]["values"] == values and seen["user"] == "U0ALICE"
    assert seen["view"]["private_metadata"] == "rv_1"

    forged = {**sign(body, SECRET), "X-Slack-Signature": "v0=" + "0" * 64}
    assert app.dispatch(bolt_request(body, forged)).status == 401

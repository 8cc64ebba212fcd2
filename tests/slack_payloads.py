"""Builders and a signer for Slack-shaped interaction payloads, as Slack sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.plain_http import TLS

TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "example"
APP_ID = "A0APP"
BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
VERIFICATION_TOKEN = "legacy-verification-token"  # deprecated by Slack, still sent


def sign(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to every HTTP request it sends (``v0`` HMAC-SHA256 signature)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    basestring = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _find_button(blocks: list[Any], action_id: str) -> dict[str, Any] | None:
    """The button with ``action_id`` in a message's blocks (actions or section accessory)."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        elements = list(block.get("elements") or [])
        if block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def block_actions(
    *,
    user_id: str,
    action_id: str,
    value: str,
    channel: str,
    message_ts: str,
    trigger_id: str,
    response_url: str,
    block_id: str = "review_actions",
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a message.

    Pass the stand-in's stored message (``standin.messages[(channel, ts)]``) as ``message``
    to have the payload carry its real text/blocks and the clicked button's label/style.
    """
    full_message: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": api_app_id,
        "team": team_id,
        "text": "",
        "blocks": [],
        **(message or {}),
        "ts": message_ts,
    }
    button = _find_button(full_message.get("blocks") or [], action_id)
    text = (button or {}).get("text") or {
        "type": "plain_text",
        "text": action_id.replace("_", " ").title(),
        "emoji": True,
    }
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": text,
        "value": value,
        "type": "button",
        "action_ts": _action_ts(),
    }
    if button and button.get("style"):
        action["style"] = button["style"]
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel.lower()},
        "message": full_message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission(
    *,
    user_id: str,
    callback_id: str,
    private_metadata: str,
    state_values: dict[str, Any],
    view_id: str = "V0VIEW",
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    blocks: list[Any] | None = None,
    trigger_id: str = "",
    title: str = "Review",
) -> dict[str, Any]:
    """A ``view_submission`` payload for a modal.

    ``state_values`` is ``{block_id: {action_id: {"type": ..., "value"/"selected_option": ...}}}``
    as Slack reports it.
    """
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state_values},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def slash_command(
    *,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str = "",
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The form fields of a slash command request (posted as-is, not as ``payload=``)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_id.lower(),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }


def form_body(payload: dict[str, Any]) -> bytes:
    """``payload=<urlencoded JSON>``, the body Slack posts for interactivity."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def _post_signed(
    url: str,
    body: bytes,
    signing_secret: str,
    timestamp: int | None,
    signature: str | None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **sign(body, signing_secret, timestamp),
    }
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    return httpx.post(url, content=body, headers=headers, timeout=10.0, verify=TLS)


def post_interaction(
    url: str,
    payload: dict[str, Any],
    signing_secret: str,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST an interaction to ``url`` the way Slack does; ``signature`` forges the header."""
    return _post_signed(url, form_body(payload), signing_secret, timestamp, signature)


def post_slash_command(
    url: str,
    fields: dict[str, str],
    signing_secret: str,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST slash-command fields (from ``slash_command``) the way Slack does."""
    return _post_signed(url, urlencode(fields).encode(), signing_secret, timestamp, signature)


def post_raw(
    url: str,
    body: bytes,
    signing_secret: str | None,
    content_type: str = "application/x-www-form-urlencoded",
) -> httpx.Response:
    """POST any bytes to ``url``, signed with ``signing_secret`` (unsigned when None)."""
    headers = {"Content-Type": content_type}
    if signing_secret is not None:
        headers.update(sign(body, signing_secret))
    return httpx.post(url, content=body, headers=headers, timeout=10.0, verify=TLS)


# -- the reviewer's queue: Home clicks and Events API payloads -------------------------


def home_block_actions(
    *,
    user_id: str,
    action_id: str,
    value: str,
    trigger_id: str,
    view: dict[str, Any] | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button in the App Home (no response URL)."""
    view_id = (view or {}).get("id", "V0HOME")
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view or {"id": view_id, "type": "home", "blocks": []},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _action_ts(),
            }
        ],
    }


def event_callback(event: dict[str, Any], team_id: str = TEAM_ID) -> dict[str, Any]:
    """The Events API envelope Slack POSTs (and sends as a Socket Mode ``events_api``)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True, "enterprise_id": None}
        ],
        "is_ext_shared_channel": False,
        "event_context": secrets.token_hex(8),
    }


def app_home_opened(user_id: str, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": _action_ts(),
    }


def thread_reply(
    *, user_id: str, channel: str, thread_ts: str, text: str, ts: str | None = None
) -> dict[str, Any]:
    """A person's reply in a thread (``message`` event, no subtype)."""
    ts = ts or _action_ts()
    return {
        "type": "message",
        "channel": channel,
        "user": user_id,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "parent_user_id": BOT_USER_ID,
        "event_ts": ts,
        "channel_type": "channel",
        "team": TEAM_ID,
    }


def bot_thread_reply(*, channel: str, thread_ts: str, text: str) -> dict[str, Any]:
    """A bot's reply in a thread (hitl's own thread notes arrive like this)."""
    ts = _action_ts()
    return {
        "type": "message",
        "subtype": "bot_message",
        "channel": channel,
        "bot_id": BOT_ID,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def reply_changed(original: dict[str, Any], text: str) -> dict[str, Any]:
    """``message_changed`` for a reply edited by its author."""
    edited = {**original, "text": text, "edited": {"user": original["user"], "ts": _action_ts()}}
    ts = _action_ts()
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": original["channel"],
        "message": edited,
        "previous_message": original,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def reply_deleted(original: dict[str, Any]) -> dict[str, Any]:
    ts = _action_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": original["channel"],
        "deleted_ts": original["ts"],
        "previous_message": original,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def post_event(
    url: str, payload: dict[str, Any], signing_secret: str, timestamp: int | None = None
) -> httpx.Response:
    """POST an Events API payload the way Slack does (JSON, signed)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **sign(body, signing_secret, timestamp),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10.0, verify=TLS)

"""A local stand-in for the Slack Web API, strict the way Slack is.

One ``SlackStandIn`` runs a real HTTP server (Web API, response URLs, file uploads) and a
WebSocket server (Socket Mode) on random local ports, each in a background thread.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from .blockkit import check_message_blocks, check_view
from .socket_server import APP_ID, SocketModeServer

TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "example"
BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
USER_TZ = "Europe/Berlin"
TRIGGER_TTL = 3.0
MESSAGE_TEXT_MAX = 40_000
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL = "response_url"
FILE_UPLOAD = "file_upload"

_JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata"})
_CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_TS_BASE = 1_700_000_000
_VIEW_KEYS = (
    "type",
    "title",
    "close",
    "submit",
    "blocks",
    "private_metadata",
    "callback_id",
    "external_id",
    "clear_on_close",
    "notify_on_close",
    "submit_disabled",
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    args: dict[str, Any]
    at: float
    ok: bool
    error: str | None
    status: int


class ApiError(Exception):
    """Raised by a method handler; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


def _invalid_arguments(reason: str, pointer: str) -> ApiError:
    return ApiError("invalid_arguments", [f"[ERROR] {reason} [json-pointer:{pointer}]"])


@dataclass
class _Injection:
    remaining: int
    methods: frozenset[str] | None
    status: int = 200
    retry_after: int = 1
    error: str | None = None

    def matches(self, method: str) -> bool:
        if self.methods is None:
            return method not in (RESPONSE_URL, FILE_UPLOAD)
        return method in self.methods


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: dict[str, Any], status: int = 200, **headers: str) -> _Reply:
        return cls(status, json.dumps(data).encode(), headers=headers)

    @classmethod
    def text(cls, text: str, status: int = 200) -> _Reply:
        return cls(status, text.encode(), "text/plain; charset=utf-8")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "SlackStandIn/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.standin._dispatch(verb, self.path, self.headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _tz_offset() -> int:
    try:
        offset = datetime.now(ZoneInfo(USER_TZ)).utcoffset()
    except Exception:  # no tz database: fall back to CET
        return 3600
    return int(offset.total_seconds()) if offset is not None else 3600


class SlackStandIn:
    """A strict local Slack: Web API over HTTP plus Socket Mode over WebSocket."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-1-test-token",
        known_channels: set[str] | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.known_channels = set(known_channels) if known_channels is not None else None
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}  # per-user overrides for users.info
        self._lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._open_conversations: set[str] = set()
        self._home_views: dict[str, str] = {}
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket = SocketModeServer()
        self._methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> SlackStandIn:
        self._http = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin-http",
            daemon=True,
        )
        self._thread.start()
        self._socket.start()
        return self

    def stop(self) -> None:
        self._socket.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "stand-in not started"
        return int(self._http.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    # -- test-facing API --------------------------------------------------------

    def calls_to(self, method: str, ok: bool | None = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def fail_next(
        self, n: int, status: int = 429, retry_after: int = 1, methods: set[str] | None = None
    ) -> None:
        """The next ``n`` matching calls answer HTTP ``status`` instead of being served.

        ``methods=None`` matches every Web API method (not response URLs or uploads; name
        ``"response_url"`` or ``"file_upload"`` explicitly to fail those).
        """
        selected = frozenset(methods) if methods is not None else None
        with self._lock:
            self._injections.append(_Injection(n, selected, status=status, retry_after=retry_after))

    def error_next(self, n: int, error: str, methods: set[str] | None = None) -> None:
        """The next ``n`` matching calls answer HTTP 200 ``{"ok": false, "error": error}``."""
        selected = frozenset(methods) if methods is not None else None
        with self._lock:
            self._injections.append(_Injection(n, selected, error=error))

    def new_trigger_id(self) -> str:
        trigger = f"{next(self._id_counter)}.{_TS_BASE}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger] = time.monotonic()
        return trigger

    def response_url(self, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL; with ``channel``/``message_ts`` it can replace/delete that
        message (``replace_original``/``delete_original``) like Slack's."""
        key = secrets.token_hex(12)
        with self._lock:
            self._response_urls[key] = {"uses": 0, "channel": channel, "ts": message_ts}
        return f"{self.base}/response/{key}"

    def wait_for(self, predicate: Callable[[SlackStandIn], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s; calls so far:\n{self.summary()}"
                )
            time.sleep(0.02)

    def summary(self, last: int = 40) -> str:
        with self._lock:
            calls = self.calls[-last:]
        if not calls:
            return "  (no calls)"
        lines = []
        for call in calls:
            outcome = "ok" if call.ok else f"error={call.error} status={call.status}"
            lines.append(f"  {call.at:.3f} {call.method} {outcome}")
        return "\n".join(lines)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.ephemerals.clear()
            self.views.clear()
            self.files.clear()
            self._injections.clear()
            self._triggers.clear()
            self._used_triggers.clear()
            self._response_urls.clear()
            self._open_conversations.clear()
            self._home_views.clear()
        self._socket.reset()

    # Socket Mode

    @property
    def socket_connected(self) -> bool:
        return self._socket.connected

    @property
    def socket_messages(self) -> list[dict[str, Any]]:
        """Every message Socket Mode clients sent (acks included), oldest first."""
        return list(self._socket.received)

    def send_socket_envelope(self, type: str, payload: dict[str, Any]) -> str:
        return self._socket.send_envelope(type, payload)

    def send_socket_disconnect(self, reason: str = "refresh_requested") -> None:
        self._socket.send_disconnect(reason)

    def wait_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return self._socket.wait_ack(envelope_id, timeout)

    # -- HTTP plumbing ----------------------------------------------------------

    def _dispatch(self, verb: str, target: str, headers: Message, body: bytes) -> _Reply:
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/api/"):
            return self._api(path[len("/api/") :], parts.query, headers, body)
        if verb == "POST" and path.startswith("/response/"):
            return self._response_url_post(path.rsplit("/", 1)[-1], body)
        if verb == "POST" and path.startswith("/upload/"):
            return self._upload(path.rsplit("/", 1)[-1], body)
        return _Reply.text("not found\n", 404)

    def _record(self, method: str, args: dict[str, Any], at: float, reply: _Reply) -> None:
        error: str | None = None
        ok = reply.status == 200
        if reply.content_type.startswith("application/json"):
            data = json.loads(reply.body)
            ok = ok and bool(data.get("ok"))
            error = None if ok else str(data.get("error"))
        elif not ok:
            error = f"http_{reply.status}"
        self.calls.append(Call(method, args, at, ok, error, reply.status))

    def _take_injection(self, method: str) -> _Reply | None:
        for injection in self._injections:
            if injection.remaining > 0 and injection.matches(method):
                injection.remaining -= 1
                break
        else:
            return None
        self._injections = [i for i in self._injections if i.remaining > 0]
        if injection.error is not None:
            return _Reply.json({"ok": False, "error": injection.error})
        if injection.status == 429:
            return _Reply.json(
                {"ok": False, "error": "ratelimited"},
                status=429,
                **{"Retry-After": str(injection.retry_after)},
            )
        return _Reply.text(f"stand-in injected HTTP {injection.status}\n", injection.status)

    def _api(self, method: str, query: str, headers: Message, body: bytes) -> _Reply:
        at = time.monotonic()
        parse_error: ApiError | None = None
        try:
            args = self._parse_args(query, headers, body)
        except ApiError as exc:
            args, parse_error = {}, exc
        form_token = args.pop("token", None)
        token = _bearer(headers.get("Authorization")) or form_token
        with self._lock:
            reply = self._take_injection(method)
            if reply is None:
                try:
                    if parse_error is not None:
                        raise parse_error
                    handler = self._methods.get(method)
                    if handler is None:
                        raise ApiError("unknown_method")
                    self._authenticate(method, token)
                    reply = _Reply.json({"ok": True, **handler(args)})
                except ApiError as exc:
                    data: dict[str, Any] = {"ok": False, "error": exc.error}
                    if exc.messages:
                        data["response_metadata"] = {"messages": exc.messages}
                    reply = _Reply.json(data)
            self._record(method, args, at, reply)
        return reply

    def _parse_args(self, query: str, headers: Message, body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body:
            if content_type == "application/json":
                try:
                    data = json.loads(body)
                except ValueError:
                    raise ApiError("invalid_json") from None
                if not isinstance(data, dict):
                    raise ApiError("invalid_json")
                args.update(data)
            elif content_type == "application/x-www-form-urlencoded":
                try:
                    args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    raise ApiError("invalid_form_data") from None
            elif not content_type:
                raise ApiError("missing_post_type")
            else:
                raise ApiError("invalid_post_type")
        for key in _JSON_ARGS & args.keys():
            value = args[key]
            if isinstance(value, str) and value:
                with contextlib.suppress(ValueError):  # else left as given for the method
                    args[key] = json.loads(value)
        return args

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if method == "apps.connections.open":
            if token == self.app_token:
                return
            raise ApiError("not_allowed_token_type" if token == self.bot_token else "invalid_auth")
        if token == self.bot_token:
            return
        raise ApiError("not_allowed_token_type" if token == self.app_token else "invalid_auth")

    # -- helpers ----------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = next(self._ts_counter) * 100
        return f"{_TS_BASE + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._id_counter):08d}{secrets.token_hex(2).upper()}"

    def _channel(self, value: Any, *, allow_user: bool = False) -> str:
        if isinstance(value, str):
            if _CHANNEL_RE.fullmatch(value):
                if (
                    value[0] in "CG"
                    and self.known_channels is not None
                    and value not in self.known_channels
                ):
                    raise ApiError("channel_not_found")
                return value
            if allow_user and _USER_RE.fullmatch(value):
                return "D" + value[1:]
        raise ApiError("channel_not_found")

    @staticmethod
    def _user(value: Any) -> str:
        if isinstance(value, str) and _USER_RE.fullmatch(value):
            return value
        raise ApiError("user_not_found")

    @staticmethod
    def _content(args: dict[str, Any]) -> dict[str, Any]:
        """Checks text/blocks/attachments the way chat.* does; returns those given."""
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if blocks == "":
            blocks = None
        if not (text or blocks or attachments):
            raise ApiError("no_text")
        if text and len(text) > MESSAGE_TEXT_MAX:
            raise ApiError("msg_too_long")
        content: dict[str, Any] = {}
        if text is not None:
            content["text"] = text
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            errors = check_message_blocks(blocks)
            if errors:
                raise ApiError("invalid_blocks", errors)
            content["blocks"] = blocks
        if attachments is not None:
            if not isinstance(attachments, list):
                raise ApiError("invalid_attachments")
            content["attachments"] = attachments
        return content

    def _view_arg(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None or view == "":
            raise _invalid_arguments("missing required field: view", "/view")
        if not isinstance(view, dict):
            raise _invalid_arguments("must be a JSON object", "/view")
        errors = check_view(view)
        if errors:
            raise ApiError("invalid_arguments", errors)
        return view

    def _use_trigger(self, trigger: Any) -> None:
        if not trigger:
            raise _invalid_arguments("missing required field: trigger_id", "/trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise ApiError("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL:
            raise ApiError("expired_trigger_id")
        self._used_triggers.add(trigger)

    def _store_view(
        self, view: dict[str, Any], existing: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        view_id = existing["id"] if existing else self._new_id("V")
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
            "title": None,
            "close": None,
            "submit": None,
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": existing.get("previous_view_id") if existing else None,
            "root_view_id": existing["root_view_id"] if existing else view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        stored.update(copy.deepcopy({k: view[k] for k in _VIEW_KEYS if k in view}))
        self.views[view_id] = stored
        return stored

    # -- Web API methods --------------------------------------------------------

    def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("error"):
            raise ApiError(str(args["error"]))
        return {"args": args}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Example",
            "user": "hitl",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self._socket.issue_url()}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"), allow_user=True)
        content = self._content(args)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            "text": "",
            **copy.deepcopy(content),
        }
        for key in ("thread_ts", "metadata", "username", "icon_emoji", "icon_url"):
            if args.get(key) not in (None, ""):
                message[key] = args[key]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _existing_message(self, channel: Any, ts: Any) -> tuple[str, str]:
        channel = self._channel(channel)
        if not isinstance(ts, str) or (channel, ts) not in self.messages:
            raise ApiError("message_not_found")
        return channel, ts

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = self._existing_message(args.get("channel"), args.get("ts"))
        content = self._content(args)
        message = dict(self.messages[key])
        for name in ("text", "blocks", "attachments"):
            if name in content:
                if content[name] == []:
                    message.pop(name, None)  # an empty array removes them, like Slack
                else:
                    message[name] = copy.deepcopy(content[name])
        if args.get("metadata") not in (None, ""):
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self.messages[key] = message
        text = message.get("text", "")
        return {"channel": key[0], "ts": key[1], "text": text, "message": message}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = self._existing_message(args.get("channel"), args.get("ts"))
        del self.messages[key]
        return {"channel": key[0], "ts": key[1]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = self._user(args.get("user"))
        content = self._content(args)
        ts = self._next_ts()
        self.ephemerals.append({"channel": channel, "user": user, "ts": ts, **content})
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._existing_message(args.get("channel"), args.get("message_ts"))
        permalink = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._channel(args["channel"])
            return {"channel": {"id": channel}, "no_op": True, "already_open": True}
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users or not isinstance(users, list):
            raise ApiError("users_list_not_supplied")
        ids = [self._user(u) for u in users]
        if len(ids) > 8:
            raise ApiError("too_many_users")
        if len(ids) == 1:
            channel = "D" + ids[0][1:]
        else:
            digest = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()
            channel = "G" + digest[:10].upper()
        data: dict[str, Any] = {"channel": {"id": channel}}
        if channel in self._open_conversations:
            data.update(no_op=True, already_open=True)
        self._open_conversations.add(channel)
        return data

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        kind = channel[0]
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": kind == "C",
                "is_group": kind == "G",
                "is_im": kind == "D",
                "is_private": kind != "C",
                "is_archived": False,
                "is_member": True,
            }
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user"))
        name = user.lower()
        real_name = f"User {user}"
        info: dict[str, Any] = {
            "id": user,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": USER_TZ,
            "tz_label": "Central European Time",
            "tz_offset": _tz_offset(),
            "is_admin": False,
            "is_bot": False,
            "profile": {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": name,
                "display_name_normalized": name,
                "email": f"{name}@example.com",
                "team": TEAM_ID,
            },
        }
        override = copy.deepcopy(self.users.get(user, {}))
        profile = override.pop("profile", {})
        info.update(override)
        info["profile"].update(profile)
        return {"user": info}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        if view["type"] != "modal":
            raise _invalid_arguments("must be modal", "/view/type")
        self._use_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise ApiError("duplicate_external_id")
        return {"view": self._store_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("must provide view_id or external_id", "/view_id")
        view = self._view_arg(args)
        if view_id:
            existing = self.views.get(view_id)
        else:
            found = [v for v in self.views.values() if v.get("external_id") == external_id]
            existing = found[0] if found else None
        if existing is None:
            raise ApiError("not_found")
        if args.get("hash") and args["hash"] != existing["hash"]:
            raise ApiError("hash_conflict")
        return {"view": self._store_view(view, existing)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = self._view_arg(args)
        if view["type"] != "home":
            raise _invalid_arguments("must be home", "/view/type")
        existing = self.views.get(self._home_views.get(user, ""))
        stored = self._store_view(view, existing)
        self._home_views[user] = stored["id"]
        return {"view": stored}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not filename or not isinstance(filename, str):
            raise _invalid_arguments("missing required field: filename", "/filename")
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _invalid_arguments("missing required field: length", "/length") from None
        if length < 1:
            raise _invalid_arguments("must be at least 1", "/length")
        file_id = self._new_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "alt_txt": args.get("alt_txt"),
            "data": None,
            "completed": False,
        }
        return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise _invalid_arguments("missing required field: files", "/files")
        entries = []
        for index, item in enumerate(files):
            file_id = item.get("id") if isinstance(item, dict) else None
            entry = self.files.get(file_id) if isinstance(file_id, str) else None
            if entry is None or entry["data"] is None or entry["completed"]:
                raise _invalid_arguments(f"file not uploaded: {file_id}", f"/files/{index}/id")
            entries.append((entry, item))
        channel = self._channel(args["channel_id"]) if args.get("channel_id") else None
        shared = []
        for entry, item in entries:
            entry["completed"] = True
            entry["title"] = item.get("title") or entry["name"]
            entry["channel"] = channel
            shared.append(
                {
                    "id": entry["id"],
                    "name": entry["name"],
                    "title": entry["title"],
                    "size": len(entry["data"]),
                    "user": BOT_USER_ID,
                }
            )
        if channel is not None:
            ts = self._next_ts()
            self.messages[(channel, ts)] = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": ts,
                "text": args.get("initial_comment") or "",
                "files": copy.deepcopy(shared),
                "upload": True,
                **({"thread_ts": args["thread_ts"]} if args.get("thread_ts") else {}),
            }
        return {"files": shared}

    # -- response URLs and uploads ----------------------------------------------

    def _response_url_post(self, key: str, body: bytes) -> _Reply:
        at = time.monotonic()
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        args = payload if isinstance(payload, dict) else {"_raw": body.decode("utf-8", "replace")}
        with self._lock:
            reply = self._take_injection(RESPONSE_URL) or self._respond(key, payload)
            self._record(RESPONSE_URL, args, at, reply)
        return reply

    def _respond(self, key: str, payload: Any) -> _Reply:
        entry = self._response_urls.get(key)
        if entry is None:
            return _Reply.json({"ok": False, "error": "expired_url"}, status=404)
        if entry["uses"] >= RESPONSE_URL_MAX_USES:
            return _Reply.json({"ok": False, "error": "used_url"}, status=404)
        if not isinstance(payload, dict):
            return _Reply.json({"ok": False, "error": "invalid_payload"}, status=400)
        target = (entry["channel"], entry["ts"])
        if _flag(payload.get("delete_original")):
            entry["uses"] += 1
            self.messages.pop(target, None)
            return _Reply.json({"ok": True})
        try:
            content = self._content(payload)
        except ApiError as exc:
            data: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.messages:
                data["response_metadata"] = {"messages": exc.messages}
            return _Reply.json(data, status=400)
        entry["uses"] += 1
        if _flag(payload.get("replace_original")) and target in self.messages:
            message = {k: v for k, v in self.messages[target].items() if k not in content}
            message.pop("blocks", None)
            message.update(copy.deepcopy(content))
            self.messages[target] = message
        return _Reply.json({"ok": True})

    def _upload(self, file_id: str, body: bytes) -> _Reply:
        at = time.monotonic()
        with self._lock:
            reply = self._take_injection(FILE_UPLOAD)
            if reply is None:
                entry = self.files.get(file_id)
                if entry is None or entry["completed"]:
                    reply = _Reply.text("not found\n", 404)
                else:
                    entry["data"] = body
                    reply = _Reply.text(f"OK - {len(body)}")
            self._record(FILE_UPLOAD, {"file_id": file_id, "size": len(body)}, at, reply)
        return reply

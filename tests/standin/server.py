"""A local stand-in for the Slack Web API, strict the way Slack is.

One ``SlackStandIn`` runs a real HTTP server (Web API, response URLs, file uploads) and a
WebSocket server (Socket Mode) on random local ports, each in a background thread.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .socket_server import SocketModeServer
from .web_api import ApiError, WebApi

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL = "response_url"
FILE_UPLOAD = "file_upload"

_JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata"})


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    args: dict[str, Any]
    at: float
    ok: bool
    error: str | None
    status: int


@dataclass
class _Injection:
    remaining: float  # math.inf: until cleared
    methods: frozenset[str] | None
    status: int = 200
    retry_after: int = 1
    error: str | None = None
    channel: str | None = None  # only calls naming this channel
    delay: float = 0.0  # served normally, but the reply is sent this many seconds late

    def matches(self, method: str, args: dict[str, Any]) -> bool:
        if self.channel is not None and args.get("channel") != self.channel:
            return False
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
    request_queue_size = 256  # many bot threads connect at once; Slack does not reset them

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-reply (a killed bot) is not the stand-in's error.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


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


class SlackStandIn(WebApi):
    """A strict local Slack: Web API over HTTP plus Socket Mode over WebSocket."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-1-test-token",
        known_channels: set[str] | None = None,
    ) -> None:
        super().__init__(known_channels)
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[Call] = []
        self._lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket = SocketModeServer()

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

    def home_view(self, user: str) -> dict[str, Any] | None:
        """The App Home last published for ``user`` (as ``views.publish`` stored it)."""
        with self._lock:
            view_id = self._home_views.get(user)
            return copy.deepcopy(self.views[view_id]) if view_id else None

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

    def rate_limit_channel(
        self,
        channel: str,
        retry_after: int = 1,
        methods: set[str] | None = None,
        n: float = math.inf,
    ) -> None:
        """Calls naming ``channel`` answer 429 with ``Retry-After`` (the next ``n``, or all
        until ``clear_injections``), as Slack does for a channel over its limit."""
        selected = frozenset(methods or {"chat.postMessage"})
        with self._lock:
            self._injections.append(
                _Injection(n, selected, status=429, retry_after=retry_after, channel=channel)
            )

    def delay_replies(self, n: float, seconds: float, methods: set[str] | None = None) -> None:
        """The next ``n`` matching calls are served (a post is stored) but their reply is
        sent ``seconds`` late, like a Slack that acted and then answered slowly."""
        selected = frozenset(methods or {"chat.postMessage"})
        with self._lock:
            self._injections.append(_Injection(n, selected, delay=seconds))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def error_next(self, n: int, error: str, methods: set[str] | None = None) -> None:
        """The next ``n`` matching calls answer HTTP 200 ``{"ok": false, "error": error}``."""
        selected = frozenset(methods) if methods is not None else None
        with self._lock:
            self._injections.append(_Injection(n, selected, error=error))

    def new_trigger_id(self) -> str:
        """A trigger id as an interaction carries: ``views.open``/``views.push`` accept it
        once within 3 seconds (``exchanged_trigger_id`` after, ``expired_trigger_id`` late)."""
        with self._lock:
            return self.issue_trigger()

    def response_url(self, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL; with ``channel``/``message_ts`` it can replace/delete that
        message (``replace_original``/``delete_original``) like Slack's."""
        key = secrets.token_hex(12)
        with self._lock:
            self._response_urls[key] = {"uses": 0, "channel": channel, "ts": message_ts}
        return f"{self.base}/response/{key}"

    def wait_for(self, predicate: Callable[[SlackStandIn], bool], timeout: float = 30.0) -> None:
        """Poll ``predicate(self)`` until true; on timeout fail with a summary of the calls.

        The default is generous: a busy machine makes things slow, not wrong.

        The predicate runs without the lock (it may call the stand-in); a dict that changes
        while it iterates just means "try again"."""
        deadline = time.monotonic() + timeout
        while not self._holds(predicate):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s; calls so far:\n{self.summary()}"
                )
            time.sleep(0.02)

    def _holds(self, predicate: Callable[[SlackStandIn], bool]) -> bool:
        try:
            return bool(predicate(self))
        except RuntimeError:  # e.g. "dictionary changed size during iteration"
            return False

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
            self.clear()
            self._injections.clear()
            self._response_urls.clear()
        self._socket.reset()

    # Socket Mode

    @property
    def socket_connected(self) -> bool:
        return self._socket.connected

    @property
    def socket_messages(self) -> list[dict[str, Any]]:
        """Every message Socket Mode clients sent (acks included), oldest first."""
        return list(self._socket.received)

    def send_socket_envelope(self, type: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
        """Send an envelope to the latest connected client (waiting up to ``timeout`` for
        one); returns its ``envelope_id``."""
        return self._socket.send_envelope(type, payload, timeout)

    def send_socket_disconnect(self, reason: str = "refresh_requested") -> None:
        self._socket.send_disconnect(reason)

    def wait_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return self._socket.wait_ack(envelope_id, timeout)

    def _socket_url(self) -> str:
        return self._socket.issue_url()

    def _upload_url(self, file_id: str) -> str:
        return f"{self.base}/upload/{file_id}"

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

    def _take_delay(self, method: str, args: dict[str, Any]) -> float:
        for injection in self._injections:
            if injection.delay and injection.remaining > 0 and injection.matches(method, args):
                injection.remaining -= 1
                self._injections = [i for i in self._injections if i.remaining > 0]
                return injection.delay
        return 0.0

    def _take_injection(self, method: str, args: dict[str, Any] | None = None) -> _Reply | None:
        for injection in self._injections:
            if (
                not injection.delay
                and injection.remaining > 0
                and injection.matches(method, args or {})
            ):
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
        delay = 0.0
        with self._lock:
            reply = self._take_injection(method, args)
            if reply is None:
                delay = self._take_delay(method, args)
                try:
                    if parse_error is not None:
                        raise parse_error
                    handler = self.methods.get(method)
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
        if delay:
            time.sleep(delay)  # outside the lock: the stand-in keeps serving meanwhile
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

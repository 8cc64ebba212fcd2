"""The Socket Mode half of the stand-in: a WebSocket server speaking Slack's envelope protocol."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

APP_ID = "A0APP"


class SocketModeServer:
    """Accepts Socket Mode clients on ``ws://127.0.0.1:PORT/link/?ticket=…``.

    Tickets come from ``issue_url`` (called by ``apps.connections.open``) and are single use.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.connection_count = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=0.25,  # wakes clients blocked in recv(), so their close() is quick
            ping_timeout=10,
            close_timeout=0.5,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="standin-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "socket server not started"
        return int(self._server.socket.getsockname()[1])

    def issue_url(self) -> str:
        ticket = secrets.token_hex(16)
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    def reset(self) -> None:
        with self._cond:
            self._acks.clear()
            self.received.clear()

    # -- connection handling ----------------------------------------------------

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._cond:
            if parts.path.rstrip("/") == "/link" and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    def _handle(self, connection: ServerConnection) -> None:
        with self._cond:
            self.connection_count += 1
            number = self.connection_count
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {
                        "host": "applink-standin",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for raw in connection:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                with self._cond:
                    self.received.append({"connection": number, **message})
                    if "envelope_id" in message:
                        self._acks[str(message["envelope_id"])] = message
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if connection in self._connections:
                    self._connections.remove(connection)
                self._cond.notify_all()

    # -- test-facing API --------------------------------------------------------

    @property
    def connected(self) -> bool:
        with self._cond:
            return bool(self._connections)

    def _latest(self, timeout: float) -> ServerConnection:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._connections:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode client connected within {timeout}s")
                self._cond.wait(remaining)
            return self._connections[-1]

    def send_envelope(self, type: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": type != "events_api",
        }
        if type == "events_api":
            envelope["retry_attempt"] = 0
            envelope["retry_reason"] = ""
        self._latest(timeout).send(json.dumps(envelope))
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested", timeout: float = 5.0) -> None:
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-standin"},
        }
        self._latest(timeout).send(json.dumps(message))

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while envelope_id not in self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no ack for envelope {envelope_id} within {timeout}s; "
                        f"received: {self.received[-10:]!r}"
                    )
                self._cond.wait(remaining)
            return self._acks[envelope_id]

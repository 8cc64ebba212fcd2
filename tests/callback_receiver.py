"""An agent's webhook endpoint for tests: records deliveries, can be down for a while."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class CallbackReceiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_next = 0
        self.fail_status = 503
        self.hang_seconds = 0.0  # > 0: each request waits this long before it is answered
        self.hanging = 0  # requests being held right now
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang_seconds > 0:  # a receiver that hangs: read, then say nothing
                    with receiver._lock:
                        receiver.hanging += 1
                    time.sleep(receiver.hang_seconds)
                    with receiver._lock:
                        receiver.hanging -= 1
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= int(failing)
                    status = receiver.fail_status if failing else 200
                    receiver.deliveries.append(
                        Delivery({k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hitl/decisions"

    def start(self) -> "CallbackReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def successful(self) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.status == 200]

"""A real HTTP hop in front of hitl that misbehaves on purpose: it answers 503 to the
first requests, or forwards a request and then drops the connection before answering
(the item is created, the agent never hears so), and otherwise proxies faithfully."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FlakyUpstream:
    def __init__(self, target: str) -> None:
        self.fail_next = 0  # answer this many requests with 503, forwarding nothing
        self.drop_next = 0  # forward this many requests, then close without answering
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status or 0 if dropped)
        self._lock = threading.Lock()
        host, port = urlsplit(target).netloc.split(":")
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with upstream._lock:
                    failing = upstream.fail_next > 0
                    upstream.fail_next -= int(failing)
                    dropping = not failing and upstream.drop_next > 0
                    upstream.drop_next -= int(dropping)
                if failing:
                    upstream.seen.append((self.command, self.path, 503))
                    payload = b'{"error": "bad_gateway", "message": "upstream is restarting"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(host, int(port), timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
                connection.close()
                if dropping:
                    upstream.seen.append((self.command, self.path, 0))
                    self.close_connection = True
                    return  # the request took effect; the answer is lost
                upstream.seen.append((self.command, self.path, answer.status))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FlakyUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

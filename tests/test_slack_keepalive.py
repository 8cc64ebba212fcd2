"""Slack calls reuse one kept-alive connection per thread (no handshake per post), survive
the server closing an idle one, and still report errors as before (429 keeps Retry-After)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_app import create_web_client
from tests.harness import make_settings
from tests.slack_standin import SlackStandIn


class _KeepAliveSlack(ThreadingHTTPServer):
    """A Slack Web API that keeps connections open (HTTP/1.1), as slack.com does, and
    counts the connections it was given."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.close_after_answer = False
        self.rate_limited = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _KeepAliveSlack

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.rate_limited:
            self._answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
        else:
            self._answer(200, {"ok": True, "channel": "C0APREVIEW", "ts": "1.000100"}, {})
        if self.server.close_after_answer:  # an idle connection the server drops
            self.close_connection = True

    def _answer(self, status: int, body: dict[str, object], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def slack() -> Iterator[_KeepAliveSlack]:
    server = _KeepAliveSlack()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_posts_reuse_one_connection_and_survive_a_closed_one(
    slack: _KeepAliveSlack, standin: SlackStandIn, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rules = tmp_path_factory.mktemp("rules") / "rules.yml"
    settings = make_settings(
        "sqlite://", standin, rules, slack_api_url=f"http://127.0.0.1:{slack.server_port}/api/"
    )
    client = create_web_client(settings)
    for n in range(3):
        response = client.chat_postMessage(channel="C0APREVIEW", text=f"post {n}")
        assert response["ts"] == "1.000100"
    assert slack.connections == 1  # urllib alone would have opened three

    slack.close_after_answer = True
    client.chat_postMessage(channel="C0APREVIEW", text="the server closes after this")
    slack.close_after_answer = False
    client.chat_postMessage(channel="C0APREVIEW", text="on a new connection")
    assert slack.connections == 2

    slack.rate_limited = True
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0APREVIEW", text="too fast")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "7"

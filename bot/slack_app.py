"""The bolt App: one WebClient pointed at SLACK_API_URL, listeners from `handlers`."""

import http.client
import logging
import select
import threading
from io import BytesIO
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.settings import Settings
from handlers import HandlerDeps, home, messages, queue_actions, register_all, slash
from handlers.payloads import CONTEXT_KEY, MalformedPayload, parse
from handlers.queue_payloads import parse_queue

log = logging.getLogger(__name__)


class KeepAliveWebClient(WebClient):
    """slack_sdk's WebClient on one kept-alive connection per thread.

    slack_sdk opens a new connection (over HTTPS: a TLS handshake) for every call through
    urllib; here each thread keeps its connection to the Slack API and reuses it. Answers
    and failures are what urllib gives: an HTTPError for 4xx/5xx (so 429s keep their
    Retry-After), a URLError for a connection that fails (retried once by the client's
    ConnectionErrorRetryHandler, as before). With a proxy, urllib's own way is used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        target = urlsplit(url)
        if self.proxy is not None or target.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        connection = self._connection(target.scheme, target.netloc)
        path = target.path + (f"?{target.query}" if target.query else "")
        try:
            connection.request("POST", path, body=req.data, headers=dict(req.header_items()))
            response = connection.getresponse()
            body = response.read()
        except OSError as error:  # as urllib reports it; the next call connects afresh
            connection.close()
            raise URLError(error) from error
        except http.client.HTTPException:
            connection.close()
            raise
        if response.status >= 400:
            raise HTTPError(url, response.status, response.reason, response.msg, BytesIO(body))
        if response.msg.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.msg, "body": body}
        charset = response.msg.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.msg, "body": body.decode(charset)}

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        connection: http.client.HTTPConnection | None = getattr(self._connections, "open", None)
        if connection is not None and (
            getattr(self._connections, "key", None) != key or _closed_by_peer(connection)
        ):
            connection.close()
            connection = None
        if connection is None:
            if scheme == "https":
                connection = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=self.ssl
                )
            else:
                connection = http.client.HTTPConnection(netloc, timeout=self.timeout)
            self._connections.open, self._connections.key = connection, key
        return connection


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection the server has closed reads as ready (EOF): reconnect
    rather than send a request into it."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet, or closed by us: http.client connects again
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def create_web_client(settings: Settings) -> WebClient:
    # Retries at this level only cover dropped connections; rate limits and outages are
    # the outbox's job, so a 429 never blocks a listener thread.
    return KeepAliveWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )


class _DropTokenNotice(logging.Filter):
    """Bolt also reads SLACK_BOT_TOKEN from the environment and then warns that the client
    we hand it wins; that is intended here, so the notice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_bolt_logger = logging.getLogger("slack_bolt")
_bolt_logger.addFilter(_DropTokenNotice())


class SlackApp(App):
    """bolt's App with hitl's boundary in front of it.

    Every click and modal submission is parsed once into typed objects
    (`handlers.payloads`) before bolt itself reads the payload, since bolt's own readers
    fail on some shapes; listeners get the result in their context. A payload of the
    wrong shape is refused there. The signing secret is kept for the HTTP endpoint, which
    checks each request's signature before anything parses it (bot.slack_endpoint).
    """

    def __init__(self, *, signing_secret: str | None, client: WebClient, socket_mode: bool) -> None:
        super().__init__(
            client=client,
            signing_secret=signing_secret,
            # Socket Mode traffic is authenticated by the app token, not signatures.
            request_verification_enabled=not socket_mode,
            # The token is checked once at start (bot.server), so a Slack outage at
            # start-up does not stop the bot from accepting items.
            token_verification_enabled=False,
            logger=_bolt_logger,
        )
        self.signing_secret = signing_secret or ""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        try:
            # The queue's payloads (Home, /hitl, thread replies) first, then decisions.
            queued = parse_queue(req.body)
            req.context[CONTEXT_KEY] = queued if queued is not None else parse(req.body)
        except MalformedPayload as error:
            return refusal(error, socket_mode=req.mode == "socket_mode")
        return super().dispatch(req)


def refusal(error: MalformedPayload, *, socket_mode: bool) -> BoltResponse:
    """A signed payload of the wrong shape: a clean 400 over HTTP; in Socket Mode it is
    acknowledged (Slack would only send it again) and logged. Nothing is decided."""
    log.warning("refused a malformed Slack payload: %s", error)
    if socket_mode:
        return BoltResponse(status=200, body="")
    return BoltResponse(status=400, body=f"Malformed Slack payload: {error}. Nothing changed.")


def log_listener_error(error: Exception, request: BoltRequest) -> BoltResponse | None:
    """bolt's error handler: a listener that meets a malformed payload refuses it like the
    boundary does; anything else stays bolt's 500, logged with its traceback."""
    if isinstance(error, MalformedPayload):
        return refusal(error, socket_mode=request.mode == "socket_mode")
    log.error("a Slack listener failed", exc_info=error)
    return None


def create_bolt_app(settings: Settings, client: WebClient, deps: HandlerDeps) -> SlackApp:
    app = SlackApp(
        signing_secret=settings.slack_signing_secret,
        client=client,
        socket_mode=settings.socket_mode,
    )
    app.error(log_listener_error)
    register_all(app, deps)
    for queue_listeners in (home, slash, queue_actions, messages):  # the reviewer's queue
        queue_listeners.register(app, deps)
    return app

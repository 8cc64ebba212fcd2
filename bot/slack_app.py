"""The bolt App: one WebClient pointed at SLACK_API_URL, listeners from `handlers`."""

import logging

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.settings import Settings
from handlers import HandlerDeps, register_all
from handlers.payloads import CONTEXT_KEY, MalformedPayload, parse

log = logging.getLogger(__name__)


def create_web_client(settings: Settings) -> WebClient:
    # Retries at this level only cover dropped connections; rate limits and outages are
    # the outbox's job, so a 429 never blocks a listener thread.
    return WebClient(
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
            req.context[CONTEXT_KEY] = parse(req.body)
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
    return app

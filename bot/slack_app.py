"""The bolt App: one WebClient pointed at SLACK_API_URL, listeners from `handlers`."""

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.settings import Settings
from handlers import HandlerDeps, register_all


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


def create_bolt_app(settings: Settings, client: WebClient, deps: HandlerDeps) -> App:
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Socket Mode traffic is authenticated by the app token, not signatures.
        request_verification_enabled=not settings.socket_mode,
        # The token is checked once at start (bot.server), so a Slack outage at start-up
        # does not stop the bot from accepting items.
        token_verification_enabled=False,
        logger=_bolt_logger,
    )
    register_all(app, deps)
    return app

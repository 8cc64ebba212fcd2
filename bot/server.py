"""Composition: one process runs the HTTP server, the Slack connection and the workers."""

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.digest_job import DigestJob
from bot.drift_job import DriftJob
from bot.egress import EgressPolicy
from bot.escalation_clock import EscalationClock
from bot.heartbeat import Heartbeat
from bot.http_app import create_http_app
from bot.metrics import Metrics
from bot.outbox_worker import OutboxWorker, RetryPolicy
from bot.rules_provider import RulesProvider
from bot.scheduler import create_scheduler
from bot.settings import Settings
from bot.signals import ChangeSignals
from bot.slack_app import create_bolt_app, create_web_client
from commands import EventBus, ItemChanged, queue
from handlers import HandlerDeps
from storage.db import Database
from storage.migrate import migrate
from storage.types import utcnow

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A problem that stops `hitl serve`, told in one line."""


class Runtime:
    def __init__(self, settings: Settings, *, now: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.now = now
        self.db = Database(
            settings.database_url, busy_timeout_seconds=settings.sqlite_busy_timeout_seconds
        )
        try:
            migrate(self.db)
        except Exception as error:
            raise StartupError(f"HITL_DATABASE_URL: cannot open the database: {error}") from None
        self.rules = RulesProvider(settings.rules_path)
        self.signals = ChangeSignals()
        self.metrics = Metrics(self.db)
        self.slack = create_web_client(settings)
        self.heartbeat = Heartbeat(
            db=self.db,
            now=now,
            health=self.metrics.health,
            every_seconds=min(2.0, settings.worker_dead_after_seconds / 4),
            dead_after_seconds=settings.worker_dead_after_seconds,
        )
        # Every change to an item goes through `commands`, which announce it here once;
        # each reaction subscribes once.
        self.events = EventBus()
        self.events.subscribe(self.metrics.on_event)
        self.events.subscribe(self.signals.on_event)
        deps = HandlerDeps(
            db=self.db, now=now, events=self.events, wake_outbox=self.signals.outbox.set
        )
        self.bolt = create_bolt_app(settings, self.slack, deps)
        self.http = create_http_app(
            db=self.db,
            rules=self.rules,
            agent_tokens=settings.agent_tokens,
            signals=self.signals,
            metrics=self.metrics,
            events=self.events,
            bolt_app=None if settings.socket_mode else self.bolt,
            max_body_bytes=settings.max_body_bytes,
            now=now,
            callback_egress=EgressPolicy(allow_private=settings.callback_allow_private),
        )
        self.worker = OutboxWorker(
            db=self.db,
            slack=self.slack,
            signals=self.signals,
            metrics=self.metrics,
            now=now,
            policy=RetryPolicy(
                base_seconds=settings.retry_base_seconds,
                max_seconds=settings.retry_max_seconds,
                callback_give_up_after=timedelta(seconds=settings.callback_give_up_after_seconds),
                lease=timedelta(seconds=settings.outbox_lease_seconds),
            ),
            webhook_secret=settings.webhook_secret,
            current_rules=self.rules.current,
            poll_seconds=settings.outbox_poll_seconds,
            heartbeat=self.heartbeat,
            slack_concurrency=settings.slack_concurrency,
            callback_concurrency=settings.callback_concurrency,
            callback_egress=EgressPolicy(allow_private=settings.callback_allow_private),
            callback_timeout_seconds=settings.callback_timeout_seconds,
        )
        self.scheduler = create_scheduler()
        self.clock = EscalationClock(
            db=self.db,
            now=now,
            events=self.events,
            sweep_seconds=settings.sweep_seconds,
            scheduler=self.scheduler,
            heartbeat=self.heartbeat,
            health=self.metrics.health,
        )
        self.events.subscribe(self._wake_clock)
        self.events.subscribe(self._refresh_homes)
        self.digest = DigestJob(
            db=self.db,
            rules=self.rules,
            scheduler=self.scheduler,
            now=now,
            queued=self.signals.outbox.set,
            health=self.metrics.health,
        )
        self.drift = DriftJob(
            db=self.db,
            rules=self.rules,
            scheduler=self.scheduler,
            now=now,
            queued=self.signals.outbox.set,
            health=self.metrics.health,
        )
        self.socket_mode: SocketModeHandler | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False

    def _wake_clock(self, event: ItemChanged) -> None:
        """A new deadline may be earlier than the one the clock will wake for."""
        if event.deadline is not None:
            self.clock.wake_at(event.deadline)

    def _refresh_homes(self, event: ItemChanged) -> None:
        """The App Homes that show the item, of people who opened theirs (through the outbox)."""
        if queue.refresh_homes(self.db, event, now=self.now()):
            self.signals.outbox.set()

    def check_slack(self) -> None:
        """A wrong token stops the bot; Slack being unreachable only warns (items queue)."""
        try:
            identity = self.slack.auth_test()
            log.info("connected to Slack as %s in %s", identity.get("user"), identity.get("team"))
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            if code in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                raise StartupError(f"SLACK_BOT_TOKEN: Slack refused the token ({code})") from None
            log.warning(
                "Slack answered auth.test with %s; items will queue until it recovers",
                error.response.status_code,
            )
        except Exception as error:
            log.warning("Slack is unreachable (%s); items will queue until it recovers", error)
        if not self.settings.webhook_secret:
            log.warning("HITL_WEBHOOK_SECRET is not set: callbacks will be sent unsigned")
        if not self.settings.agent_tokens:
            log.warning("HITL_API_TOKENS is not set: the agent API refuses every request")

    def start(self) -> None:
        """Starts everything in background threads; returns once the port is listening."""
        self.check_slack()
        self.heartbeat.start()
        self.worker.start()
        self.clock.start()
        self.digest.start()
        self.drift.start()
        self.scheduler.start()
        if self.settings.socket_mode:
            self.socket_mode = SocketModeHandler(self.bolt, self.settings.slack_app_token)
            try:
                self.socket_mode.connect()
            except SlackApiError as error:  # a wrong app token: one line, not a traceback
                data = error.response.data
                code = data.get("error") if isinstance(data, dict) else None
                raise StartupError(
                    f"SLACK_APP_TOKEN: Slack refused it at Socket Mode connect ({code}); use an "
                    "app-level token (xapp-…) with the connections:write scope, from Basic "
                    "Information → App-Level Tokens"
                ) from None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError as error:
            raise StartupError(
                f"HITL_HOST/HITL_PORT: cannot listen on {self.settings.host}:"
                f"{self.settings.port} ({error.strerror})"
            ) from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.http,
            log_level="warning",
            log_config=None,  # uvicorn's lines go through hitl's handler (text or JSON)
            lifespan="off",
            timeout_graceful_shutdown=5,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise StartupError("the HTTP server failed to start")
            time.sleep(0.01)
        log.info("hitl listening on http://%s:%s", self.settings.host, self.port)

    def wait(self) -> None:
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        """Stops everything once; safe to call again (a signal and the main loop both may)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        log.info("shutting down: taking no new work")
        # Stop taking work everywhere first, then wait (briefly, in parallel) for what is
        # in flight: the whole stop stays well under 10 s even with a hung receiver.
        self.worker.stop_claiming()
        if self._server is not None:
            self._server.should_exit = True
        self.scheduler.shutdown(wait=False)
        if self._thread is not None:
            self._thread.join(timeout=6)
        if self.socket_mode is not None:
            self.socket_mode.close()
        self.clock.stop()
        self.worker.stop()
        self.heartbeat.stop()
        self.db.dispose()
        log.info("hitl stopped")

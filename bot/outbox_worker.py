"""Delivers the outbox: Slack messages, digests and agent callbacks, retried until they land.

Rows are claimed with a lease, so several replicas share the work and a crashed worker's
rows are picked up again. What each kind of row does lives in `slack_delivery` and
`callbacks`; this module decides when to try again and when to give up.
"""

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.callbacks import CallbackSender
from bot.delivery import GiveUp, Retry, RetryPolicy, classify_slack_error
from bot.metrics import Metrics
from bot.signals import ChangeSignals
from bot.slack_delivery import SlackDelivery
from rules import LoadedRules
from storage import outbox, reviews
from storage.db import Database
from storage.models import CallbackStatus, OutboxKind, OutboxMessage

log = logging.getLogger(__name__)

__all__ = ["OutboxWorker", "RetryPolicy"]


class OutboxWorker:
    def __init__(
        self,
        *,
        db: Database,
        slack: WebClient,
        signals: ChangeSignals,
        metrics: Metrics,
        now: Callable[[], datetime],
        policy: RetryPolicy,
        webhook_secret: str | None,
        current_rules: Callable[[], LoadedRules],
        poll_seconds: float = 1.0,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.signals = signals
        self.metrics = metrics
        self.now = now
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.slack = SlackDelivery(db=db, slack=slack, now=now, current_rules=current_rules)
        self.callbacks = CallbackSender(db=db, webhook_secret=webhook_secret, now=now)
        self._stop = threading.Event()
        self._slots = threading.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="outbox")
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        self._slack_paused_until: datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signals.outbox.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.callbacks.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("outbox: claiming failed; trying again shortly")
                claimed = 0
            if claimed == 0:
                self.signals.outbox.wait(self.poll_seconds)
                self.signals.outbox.clear()

    def run_once(self) -> int:
        """Claims as many due rows as there are free delivery slots and starts them."""
        free = 0
        while self._slots.acquire(blocking=False):
            free += 1
        if free == 0:
            self._slots.acquire()
            free = 1
        rows = outbox.claim_due(self.db, now=self.now(), lease=self.policy.lease, limit=free)
        for _ in range(free - len(rows)):
            self._slots.release()
        for row in rows:
            self._pool.submit(self._deliver_and_release, row)
        return len(rows)

    def _deliver_and_release(self, row: OutboxMessage) -> None:
        try:
            self.deliver(row)
        except Exception:
            log.exception("outbox: unexpected error delivering %s %s", row.kind, row.delivery_id)
            outbox.retry_at(
                self.db,
                row.id or 0,
                due_at=self.now() + timedelta(seconds=30),
                error="internal error",
            )
        finally:
            self._slots.release()
            self.signals.outbox.set()  # a slot is free: look for more work

    def deliver(self, row: OutboxMessage) -> None:
        assert row.id is not None
        kind = OutboxKind(row.kind)
        with self.metrics.delivery_seconds.labels(kind).time():
            try:
                if kind == OutboxKind.CALLBACK:
                    self.callbacks.send(row)
                else:
                    self._to_slack(row, kind)
            except Retry as retry:
                self._retry(row, kind, str(retry), retry.after)
                return
            except GiveUp as failure:
                self._fail(row, kind, str(failure))
                return
        outbox.complete(self.db, row.id, now=self.now())
        self.metrics.deliveries.labels(kind, "ok").inc()

    def _to_slack(self, row: OutboxMessage, kind: OutboxKind) -> None:
        now = self.now()
        if self._slack_paused_until and now < self._slack_paused_until:
            raise Retry("rate limited", (self._slack_paused_until - now).total_seconds())
        try:
            if kind == OutboxKind.POST_DIGEST:
                self.slack.post_digest(int(row.payload["run_id"]))
            elif kind == OutboxKind.POST_ITEM:
                self.slack.post_item(self.slack.item(row.item_id))
            elif kind == OutboxKind.POST_ESCALATION:
                item = self.slack.item(row.item_id)
                self.slack.post_escalation(item, int(row.payload["message_id"]))
            else:
                self.slack.update_item(self.slack.item(row.item_id))
        except SlackApiError as error:
            problem = classify_slack_error(error)
            if isinstance(problem, Retry) and problem.after is not None:
                # A 429 holds every Slack call of this worker, not just this row.
                self._slack_paused_until = self.now() + timedelta(seconds=problem.after)
            raise problem from None
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as error:
            raise Retry(f"Slack unreachable: {error}") from None

    def _retry(self, row: OutboxMessage, kind: OutboxKind, error: str, after: float | None) -> None:
        now = self.now()
        give_up_at = row.give_up_at or row.created_at + self.policy.callback_give_up_after
        if kind == OutboxKind.CALLBACK and now >= give_up_at:
            self._fail(row, kind, f"gave up after {row.attempts} attempts: {error}")
            return
        delay = after if after is not None else self.policy.delay(row.attempts)
        log.warning(
            "outbox: %s for item %s failed (%s); retry in %.1fs", kind, row.item_id, error, delay
        )
        self.metrics.deliveries.labels(kind, "retry").inc()
        outbox.retry_at(self.db, row.id or 0, due_at=now + timedelta(seconds=delay), error=error)

    def _fail(self, row: OutboxMessage, kind: OutboxKind, error: str) -> None:
        log.error("outbox: %s for item %s failed for good: %s", kind, row.item_id, error)
        self.metrics.deliveries.labels(kind, "failed").inc()
        now = self.now()
        outbox.give_up(self.db, row.id or 0, now=now, error=error)
        if kind == OutboxKind.CALLBACK and row.item_id:
            reviews.set_callback_status(
                self.db,
                row.item_id,
                CallbackStatus.FAILED,
                now=now,
                error=error,
                delivery_id=row.delivery_id,
                attempts=row.attempts,
            )

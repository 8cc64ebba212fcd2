"""Delivers the outbox: Slack messages, digests and agent callbacks, retried until they land.

Rows are claimed with a lease that names this process, so several replicas share the work
and a crashed process's rows are taken over once its heartbeat stops. Slack calls and
callbacks have separate slot pools, so neither can starve the other; Slack's rate limits
are kept per method and channel, and rows waiting on one are not claimed at all. What each
kind of row does lives in `slack_delivery` and `callbacks`; this module decides when to
try again and when to give up. Every failure of the database is survived: the claim loop
backs off and tries again, and outcomes it could not record are recorded later.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.callbacks import DEFAULT_TIMEOUT_SECONDS, CallbackSender
from bot.delivery import (
    SLACK_ANSWERED,
    GiveUp,
    RateLimits,
    Retry,
    RetryPolicy,
    alert_targets,
    classify_slack_error,
)
from bot.egress import EgressPolicy
from bot.heartbeat import Heartbeat
from bot.metrics import Metrics
from bot.signals import ChangeSignals
from bot.slack_delivery import SlackDelivery
from bot.slot_pool import SlotPool
from rules import LoadedRules
from storage import delivered, outbox, reviews, undeliverable
from storage.db import Database
from storage.models import CallbackStatus, OutboxKind, OutboxMessage

log = logging.getLogger(__name__)

__all__ = ["OutboxWorker", "RetryPolicy"]

LOOP = "outbox"
SLACK_SIDE = (
    OutboxKind.POST_ITEM,
    OutboxKind.POST_ESCALATION,
    OutboxKind.UPDATE_ITEM,
    OutboxKind.POST_DIGEST,
    OutboxKind.POST_ALERT,
    OutboxKind.POST_THREAD,
    OutboxKind.PUBLISH_HOME,
    OutboxKind.POST_HANDOVER,
    OutboxKind.POST_DRIFT,
)
_CLAIM_BACKOFF_MAX = 5.0  # seconds between claim attempts while the database fails
_SLACK_PREFETCH = 3  # Slack rows queued per thread: under a backlog a claim takes 2 per thread
_SHUTDOWN_GRACE = 3.0  # seconds in-flight deliveries get to finish before they are handed back


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
        heartbeat: Heartbeat,
        poll_seconds: float = 1.0,
        slack_concurrency: int = 4,
        callback_concurrency: int = 8,
        callback_egress: EgressPolicy | None = None,
        callback_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.db = db
        self.signals = signals
        self.metrics = metrics
        self.now = now
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.heartbeat = heartbeat
        self.current_rules = current_rules
        self.slack = SlackDelivery(db=db, slack=slack, now=now, current_rules=current_rules)
        self.callbacks = CallbackSender(
            db=db,
            webhook_secret=webhook_secret,
            now=now,
            egress=callback_egress,
            timeout_seconds=callback_timeout_seconds,
        )
        self.limits = RateLimits()
        self._stop = threading.Event()
        wake = signals.outbox.set  # a slot is free: look for more work
        # Slack rows are prefetched: under a backlog one claim serves several deliveries.
        self.slack_pool = SlotPool(
            "slack",
            slack_concurrency,
            self._deliver_safely,
            wake,
            prefetch=_SLACK_PREFETCH * slack_concurrency,
        )
        self.callback_pool = SlotPool("callback", callback_concurrency, self._deliver_safely, wake)
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        # Outcomes that could not be written (database down): written on a later cycle.
        self._unrecorded: list[Callable[[], None]] = []
        self._unrecorded_lock = threading.Lock()
        metrics.health.register(LOOP, stale_after=max(10.0, 10 * poll_seconds))

    def start(self) -> None:
        self.slack_pool.start()
        self.callback_pool.start()
        self._thread.start()

    def stop_claiming(self) -> None:
        self._stop.set()
        self.signals.outbox.set()

    def stop(self) -> None:
        """Stops claiming, lets in-flight deliveries finish briefly, hands back the rest."""
        self.stop_claiming()
        self._thread.join(timeout=2)
        # Rows prefetched but not started are handed back with whatever is still in flight.
        waiting = self.slack_pool.drop_waiting() + self.callback_pool.drop_waiting()
        deadline = time.monotonic() + _SHUTDOWN_GRACE
        while self._in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._flush_unrecorded()
        left = self._in_flight() + waiting
        if left:
            try:
                outbox.release(self.db, left)
                log.info("outbox: handed back %d deliveries still in flight", len(left))
            except Exception as error:
                log.warning("outbox: could not hand back %d rows (%s)", len(left), error)
        self.slack_pool.stop()
        self.callback_pool.stop()
        self.callbacks.close()
        log.info("outbox: stopped")

    def _in_flight(self) -> list[int]:
        return self.slack_pool.in_flight() + self.callback_pool.in_flight()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            # Cleared before the claim: a signal arriving while it runs is not lost.
            self.signals.outbox.clear()
            try:
                self._flush_unrecorded()
                self.run_once()
            except Exception as error:
                failures += 1
                self.metrics.health.failed(LOOP, error)
                delay = min(_CLAIM_BACKOFF_MAX, self.poll_seconds * 2 ** min(failures, 10))
                if failures == 1:
                    log.exception("outbox: claiming failed; trying again in %.1fs", delay)
                else:
                    log.warning(
                        "outbox: claiming failed again (%s); next try in %.1fs", error, delay
                    )
                self._stop.wait(delay)
                continue
            if failures:
                log.info("outbox: claiming works again after %d failed attempts", failures)
                self._reclaim_lost_leases()
            failures = 0
            self.metrics.health.succeeded(LOOP)
            # One claim per wake-up: it took what was due up to the free slots, so the
            # next look waits for a change, a freed slot of a full pool, or the poll.
            if not self._stop.is_set():
                self.signals.outbox.wait(self.poll_seconds)

    def run_once(self) -> int:
        """Claims due rows for every pool's free slots in one claim and starts them; a
        failed claim gives its slots back, so no error can leave the worker without slots.
        A pool whose free slots were all filled (or that had none free) may have more rows
        due: its freed slots wake the loop. Otherwise nothing more was due, and the loop
        waits for the next change signal or poll."""
        now = self.now()
        pools: Sequence[tuple[SlotPool, Sequence[OutboxKind]]] = (
            (self.slack_pool, SLACK_SIDE),
            (self.callback_pool, (OutboxKind.CALLBACK,)),
        )
        wanted: list[tuple[SlotPool, Sequence[OutboxKind], int]] = []
        for pool, kinds in pools:
            free = pool.take_free()
            if free == 0:
                pool.backlog = True  # all busy: unknown what waits, look when one frees
            else:
                wanted.append((pool, kinds, free))
        if not wanted:
            return 0
        split: list[list[OutboxMessage]] = [[] for _ in wanted]
        try:
            rows = outbox.claim_due(
                self.db,
                now=now,
                lease=self.policy.lease,
                limit=sum(free for _pool, _kinds, free in wanted),
                kinds=[kind for _pool, kinds, _free in wanted for kind in kinds],
                groups=[(kinds, free) for _pool, kinds, free in wanted],
                worker_id=self.heartbeat.worker_id,
                dead_before=self.heartbeat.dead_before(),
                paused=self.limits.paused(now),
            )
            for row in rows:
                for index, (_pool, kinds, _free) in enumerate(wanted):
                    if row.kind in kinds:
                        split[index].append(row)
                        break
        finally:
            for (pool, _kinds, free), taken in zip(wanted, split, strict=True):
                pool.backlog = len(taken) >= free
                pool.give_back(free - len(taken))
        for (pool, _kinds, _free), taken in zip(wanted, split, strict=True):
            for row in taken:
                pool.submit(row)
        return sum(len(taken) for taken in split)

    def _reclaim_lost_leases(self) -> None:
        """After a failed claim, rows it may have leased (commit done, answer lost) are
        freed: every row this worker really holds is in flight in a pool."""
        try:
            freed = outbox.release_held_by(
                self.db, self.heartbeat.worker_id, keep=self._in_flight()
            )
        except Exception as error:
            log.warning("outbox: could not free leases of failed claims (%s)", error)
            return
        if freed:
            log.info("outbox: freed %d rows leased by a claim whose answer was lost", freed)
            self.signals.outbox.set()

    def _record(self, write: Callable[[], None]) -> None:
        """Writes an outcome; if the database fails, keeps it to write on a later cycle
        (the lease is ours while we heartbeat, so nobody else delivers the row meanwhile)."""
        try:
            write()
        except Exception as error:
            log.warning("outbox: cannot record an outcome now (%s); will retry", error)
            with self._unrecorded_lock:
                self._unrecorded.append(write)

    def _flush_unrecorded(self) -> None:
        with self._unrecorded_lock:
            pending, self._unrecorded = self._unrecorded, []
        for index, write in enumerate(pending):
            try:
                write()
            except Exception:
                with self._unrecorded_lock:
                    self._unrecorded[:0] = pending[index:]
                raise

    def _deliver_safely(self, row: OutboxMessage) -> None:
        try:
            self.deliver(row)
        except Exception as error:
            reason = f"internal error: {type(error).__name__}"
            log.exception(
                "outbox: unexpected error delivering %s %s",
                row.kind,
                row.delivery_id,
                extra={"item_id": row.item_id},
            )
            self._record(
                lambda: outbox.retry_at(
                    self.db,
                    row.id or 0,
                    due_at=self.now() + timedelta(seconds=self.policy.delay(row.attempts)),
                    error=reason,
                )
            )

    def deliver(self, row: OutboxMessage) -> None:
        assert row.id is not None
        kind = OutboxKind(row.kind)
        posted: tuple[str, str] | None = None
        with self.metrics.delivery_seconds.labels(kind).time():
            try:
                if kind == OutboxKind.CALLBACK:
                    self.callbacks.send(row)
                else:
                    posted = self._to_slack(row, kind)
            except Retry as retry:
                self._retry(row, kind, str(retry), retry.after)
                return
            except GiveUp as failure:
                self._fail(row, kind, str(failure), failure.code)
                return
        row_id = row.id
        if posted is not None and row.item_id:
            # The item's post and the row's completion: one transaction.
            item_id, (channel, ts) = row.item_id, posted
            self._record(
                lambda: delivered.mark_posted_and_complete(
                    self.db, item_id, row_id, channel=channel, ts=ts, now=self.now()
                )
            )
        else:
            self._record(lambda: outbox.complete(self.db, row_id, now=self.now()))
        self.metrics.deliveries.labels(kind, "ok").inc()
        if kind in (OutboxKind.POST_ITEM, OutboxKind.POST_ESCALATION):
            log.info("outbox: %s delivered", kind.value, extra={"item_id": row.item_id})

    def _may_have_reached_slack(self, row: OutboxMessage) -> bool:
        """An earlier attempt may have posted: it was cut short (crash, timeout) rather
        than answered by Slack with an error."""
        return row.attempts > 1 and not (row.last_error or "").startswith(SLACK_ANSWERED)

    def _to_slack(self, row: OutboxMessage, kind: OutboxKind) -> tuple[str, str] | None:
        """Delivers a Slack row; for a posted item, the channel and ts to record."""
        now = self.now()
        # The item and what its messages show, in one read.
        of_no_item = (OutboxKind.POST_DIGEST, OutboxKind.PUBLISH_HOME, OutboxKind.POST_DRIFT)
        rendering = self.slack.rendering(row.item_id) if kind not in of_no_item else None
        item = rendering.item if rendering is not None else None
        method = RateLimits.UPDATE if kind == OutboxKind.UPDATE_ITEM else RateLimits.POST
        if kind == OutboxKind.PUBLISH_HOME:
            method = "views.publish"  # its own limit: a busy channel never holds Homes back
        item_channel_kinds = (OutboxKind.POST_ITEM, OutboxKind.UPDATE_ITEM, OutboxKind.POST_THREAD)
        channel = item.channel if item is not None and kind in item_channel_kinds else None
        wait = self.limits.wait_seconds(method, channel, now)
        if wait is not None:
            raise Retry("rate limited", wait)
        try:
            if kind == OutboxKind.POST_DIGEST:
                self.slack.post_digest(
                    int(row.payload["run_id"]), look_first=self._may_have_reached_slack(row)
                )
            elif kind == OutboxKind.POST_ITEM:
                assert item is not None
                return self.slack.post_item(
                    item, look_first=self._may_have_reached_slack(row), rendering=rendering
                )
            elif kind == OutboxKind.POST_ALERT:
                assert item is not None
                self.slack.post_alert(
                    item, str(row.payload["target"]), str(row.payload.get("error", ""))
                )
            elif kind == OutboxKind.POST_THREAD:
                assert item is not None
                self.slack.post_in_thread(item, str(row.payload["text"]))
            elif kind == OutboxKind.POST_ESCALATION:
                assert item is not None
                self.slack.post_escalation(
                    item,
                    int(row.payload["message_id"]),
                    look_first=self._may_have_reached_slack(row),
                    rendering=rendering,
                )
            elif kind == OutboxKind.POST_DRIFT:
                self.slack.post_drift(
                    str(row.payload["alert_id"]), look_first=self._may_have_reached_slack(row)
                )
            elif kind == OutboxKind.PUBLISH_HOME:
                self.slack.publish_home(str(row.payload["user"]))
            elif kind == OutboxKind.POST_HANDOVER:
                assert rendering is not None
                self.slack.post_handover(rendering, str(row.payload["to"]), str(row.payload["by"]))
            else:
                assert item is not None
                self.slack.update_item(item, rendering=rendering)
        except SlackApiError as error:
            problem = classify_slack_error(error)
            if isinstance(problem, Retry) and problem.after is not None and problem.method:
                # Slack's limits are per method and channel: pause just that.
                until = self.now() + timedelta(seconds=problem.after)
                self.limits.pause(problem.method, problem.channel, until)
            raise problem from None
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as error:
            raise Retry(f"Slack unreachable: {error}") from None
        return None

    def _retry(self, row: OutboxMessage, kind: OutboxKind, error: str, after: float | None) -> None:
        now = self.now()
        give_up_at = row.give_up_at or row.created_at + self.policy.callback_give_up_after
        if kind == OutboxKind.CALLBACK and now >= give_up_at:
            self._fail(row, kind, f"gave up after {row.attempts} attempts: {error}", None)
            return
        delay = after if after is not None else self.policy.delay(row.attempts)
        log.warning(
            "outbox: %s for item %s failed (%s); retry in %.1fs",
            kind,
            row.item_id,
            error,
            delay,
            extra={"item_id": row.item_id},
        )
        self.metrics.deliveries.labels(kind, "retry").inc()
        row_id = row.id or 0
        self._record(
            lambda: outbox.retry_at(
                self.db, row_id, due_at=now + timedelta(seconds=delay), error=error
            )
        )

    def _fail(self, row: OutboxMessage, kind: OutboxKind, error: str, code: str | None) -> None:
        log.error(
            "outbox: %s for item %s failed for good: %s",
            kind,
            row.item_id,
            error,
            extra={"item_id": row.item_id},
        )
        self.metrics.deliveries.labels(kind, "failed").inc()
        now = self.now()
        row_id = row.id or 0
        self._record(lambda: outbox.give_up(self.db, row_id, now=now, error=error))
        if kind == OutboxKind.POST_ITEM and row.item_id and code:
            self._undeliverable(row.item_id, code, now)
        if kind == OutboxKind.CALLBACK and row.item_id:
            item_id = row.item_id
            self._record(
                lambda: delivered.set_callback_status(
                    self.db,
                    item_id,
                    CallbackStatus.FAILED,
                    now=now,
                    error=error,
                    delivery_id=row.delivery_id,
                    attempts=row.attempts,
                )
            )

    def _undeliverable(self, item_id: str, code: str, now: datetime) -> None:
        """Slack refused the item's post for good: the API shows it, the agent's callback
        says so and people are alerted, so the item does not wait in silence."""

        def mark() -> None:
            item = reviews.get_item(self.db, item_id)
            if item is None:
                return
            targets = alert_targets(item, self.current_rules().rules)
            undeliverable.mark(self.db, item_id, error=code, now=now, alert_to=targets)
            log.warning(
                "item cannot be posted (%s); alerting %s",
                code,
                ", ".join(targets) or "nobody (no alerts channel)",
                extra={"item_id": item_id},
            )
            self.signals.changed(item_id)

        self._record(mark)

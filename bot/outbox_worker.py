"""Delivers the outbox: Slack messages and agent callbacks, retried until they land.

Rows are claimed with a lease, so several replicas share the work and a crashed worker's
rows are picked up again. Slack rows render the item as it is at delivery time, so a
late delivery never shows a stale state.
"""

import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from standardwebhooks import Webhook

from bot import digest_publisher
from bot.api_models import ReviewOut
from bot.metrics import Metrics
from bot.signals import ChangeSignals
from digest.model import Period
from handlers.blocks import escalation_message, item_message
from rules import LoadedRules
from storage import digests, escalations, outbox, reviews
from storage.db import Database
from storage.models import (
    CallbackStatus,
    Decision,
    OutboxKind,
    OutboxMessage,
    ReviewItem,
    SpotCheck,
)

log = logging.getLogger(__name__)

# Slack errors that retrying cannot fix: the row is marked failed, visibly.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_metadata_format",
        "restricted_action",
        "too_many_attachments",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 600.0
    callback_give_up_after: timedelta = timedelta(days=1)
    lease: timedelta = timedelta(seconds=120)

    def delay(self, attempts: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so retries spread out."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class _Retry(Exception):
    def __init__(self, error: str, after: float | None = None) -> None:
        super().__init__(error)
        self.after = after


class _GiveUp(Exception):
    pass


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
        self.slack = slack
        self.signals = signals
        self.metrics = metrics
        self.now = now
        self.policy = policy
        self.webhook = Webhook(webhook_secret) if webhook_secret else None
        self.current_rules = current_rules
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.http = httpx.Client(timeout=10.0, follow_redirects=False)
        self._stop = threading.Event()
        self._slots = threading.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="outbox")
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        self._slack_paused_until: datetime | None = None
        self._team_url: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signals.outbox.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.http.close()

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
                    self._callback(row)
                elif kind == OutboxKind.POST_DIGEST:
                    self._digest(int(row.payload["run_id"]))
                else:
                    self._slack(row, kind)
            except _Retry as retry:
                self._retry(row, kind, str(retry), retry.after)
                return
            except _GiveUp as failure:
                self._fail(row, kind, str(failure))
                return
        outbox.complete(self.db, row.id, now=self.now())
        self.metrics.deliveries.labels(kind, "ok").inc()

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
        if kind == OutboxKind.CALLBACK:
            reviews.set_callback_status(
                self.db,
                row.item_id,
                CallbackStatus.FAILED,
                now=now,
                error=error,
                delivery_id=row.delivery_id,
                attempts=row.attempts,
            )

    # Slack ---------------------------------------------------------------------------

    def _slack(self, row: OutboxMessage, kind: OutboxKind) -> None:
        now = self.now()
        if self._slack_paused_until and now < self._slack_paused_until:
            raise _Retry("rate limited", (self._slack_paused_until - now).total_seconds())
        item = reviews.get_item(self.db, row.item_id)
        if item is None:
            raise _GiveUp("item not found")
        try:
            if kind == OutboxKind.POST_ITEM:
                self._post_item(item)
            elif kind == OutboxKind.POST_ESCALATION:
                self._post_escalation(item, int(row.payload["message_id"]))
            else:
                self._update_item(item)
        except SlackApiError as error:
            raise self._classify(error) from None
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as error:
            raise _Retry(f"Slack unreachable: {error}") from None

    def _rendered(self, item: ReviewItem) -> tuple[Decision | None, list[str], list[SpotCheck]]:
        return (
            reviews.get_decision(self.db, item.id),
            reviews.approvers_of(self.db, item),
            reviews.spot_checks_of(self.db, item.id),
        )

    def _post_item(self, item: ReviewItem) -> None:
        if item.message_ts:
            return  # already posted: a retry after the post landed
        text, blocks = item_message(item, *self._rendered(item))
        response = self.slack.chat_postMessage(
            channel=item.channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "hitl_review", "event_payload": {"item_id": item.id}},
        )
        reviews.mark_posted(
            self.db, item.id, channel=response["channel"], ts=response["ts"], now=self.now()
        )

    def _post_escalation(self, item: ReviewItem, message_id: int) -> None:
        message = escalations.get_message(self.db, message_id)
        if message is None or message.ts:
            return
        channel = message.target
        if channel[0] in "UW":  # a person: by direct message
            channel = self.slack.conversations_open(users=channel)["channel"]["id"]
        decision, approvers, _checks = self._rendered(item)
        text, blocks = escalation_message(
            item, decision, approvers, message.level, self._permalink(item)
        )
        response = self.slack.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={
                "event_type": "hitl_escalation",
                "event_payload": {"item_id": item.id, "level": message.level},
            },
        )
        escalations.mark_message_posted(
            self.db, message_id, channel=response["channel"], ts=response["ts"]
        )

    def _update_item(self, item: ReviewItem) -> None:
        """Every message of the item shows its current state: original and escalations."""
        decision, approvers, checks = self._rendered(item)
        if item.message_ts:
            text, blocks = item_message(item, decision, approvers, checks)
            self.slack.chat_update(
                channel=item.channel, ts=item.message_ts, text=text, blocks=blocks
            )
        for message in escalations.messages_of(self.db, item.id):
            if message.ts and message.channel:
                text, blocks = escalation_message(
                    item, decision, approvers, message.level, self._permalink(item)
                )
                self.slack.chat_update(
                    channel=message.channel, ts=message.ts, text=text, blocks=blocks
                )

    def _permalink(self, item: ReviewItem) -> str | None:
        """Slack's documented permalink form, from the workspace URL auth.test gives."""
        team_url = self.team_url() if item.message_ts else None
        if not team_url or not item.message_ts:
            return None
        message_id = item.message_ts.replace(".", "")
        return f"{team_url.rstrip('/')}/archives/{item.channel}/p{message_id}"

    def team_url(self) -> str | None:
        if self._team_url is None:
            self._team_url = str(self.slack.auth_test().get("url") or "")
        return self._team_url or None

    # The digest ------------------------------------------------------------------------

    def _digest(self, run_id: int) -> None:
        """Posts a claimed digest; each part is recorded, so a retry repeats none of it."""
        run = digests.get_run(self.db, run_id)
        if run is None:
            raise _GiveUp("digest run not found")
        rules = self.current_rules().rules
        if rules.digest is None:
            raise _GiveUp("the rules no longer name a digest channel")
        period = Period(label=run.period, since=run.since, until=run.until, timezone=rules.timezone)
        try:
            digest = digest_publisher.build(
                self.db, rules, period, now=self.now(), team_url=self.team_url()
            )
            channel, ts = run.channel, run.message_ts
            if not ts:
                channel, ts = digest_publisher.post_message(
                    self.slack, rules.digest.channel, digest
                )
                digests.mark_message(self.db, run_id, channel=channel, ts=ts)
            if not run.chart_posted and channel:
                digest_publisher.post_chart(self.slack, channel, ts, digest)
                digests.mark_chart(self.db, run_id)
        except SlackApiError as error:
            raise self._classify(error) from None
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as error:
            raise _Retry(f"Slack unreachable: {error}") from None

    def _classify(self, error: SlackApiError) -> Exception:
        response = error.response
        if response.status_code == 429:
            after = float(
                response.headers.get("Retry-After", response.headers.get("retry-after", 1))
            )
            self._slack_paused_until = self.now() + timedelta(seconds=after)
            return _Retry("Slack rate limit (429)", after)
        code = response.get("error") if isinstance(response.data, dict) else None
        if response.status_code >= 500 or not code:
            return _Retry(f"Slack answered HTTP {response.status_code}")
        if code in PERMANENT_SLACK_ERRORS:
            return _GiveUp(f"Slack refused: {code} {response.get('response_metadata') or ''}")
        return _Retry(f"Slack error: {code}")

    # Callbacks -----------------------------------------------------------------------

    def _callback(self, row: OutboxMessage) -> None:
        item = reviews.get_item(self.db, row.item_id)
        if item is None or not item.callback_url:
            raise _GiveUp("item or callback_url not found")
        body = ReviewOut.of(item, reviews.get_decision(self.db, item.id)).model_dump_json()
        now = self.now()
        headers = {
            "content-type": "application/json",
            "user-agent": "hitl-webhooks/1",
            "webhook-id": row.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self.webhook is not None:
            headers["webhook-signature"] = self.webhook.sign(row.delivery_id, now, body)
        try:
            response = self.http.post(item.callback_url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise _Retry(f"{type(error).__name__}: {error}") from None
        if response.status_code == 410:
            raise _GiveUp("the receiver answered 410 Gone")
        if not response.is_success:
            raise _Retry(f"the receiver answered HTTP {response.status_code}")
        reviews.set_callback_status(
            self.db,
            item.id,
            CallbackStatus.DELIVERED,
            now=self.now(),
            delivery_id=row.delivery_id,
            attempts=row.attempts,
        )


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None

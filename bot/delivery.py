"""What the outbox worker's deliveries share: how to retry, and what cannot be retried."""

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from rules.schema import RulesFile
from storage.models import ReviewItem
from storage.outbox import Paused

# Slack errors that retrying cannot fix: the row is marked failed, visibly.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks",
        "invalid_arguments", "msg_too_long", "no_text", "message_not_found",
        "cant_update_message", "edit_window_closed", "invalid_metadata_format",
        "restricted_action", "too_many_attachments",
    }
)  # fmt: skip


# Prefixes of retry reasons that prove Slack answered and did not act: a row that failed
# this way was not posted, so re-posting it needs no look in the channel's history first.
SLACK_ANSWERED = ("Slack rate limit", "Slack refused", "Slack error:", "rate limited")


class Retry(Exception):
    """Try again later: after `after` seconds when the other side said so, else by backoff."""

    def __init__(
        self,
        error: str,
        after: float | None = None,
        *,
        method: str | None = None,
        channel: str | None = None,
    ) -> None:
        super().__init__(error)
        self.after = after
        self.method = method  # for a 429: the Slack method and channel it limits
        self.channel = channel


class GiveUp(Exception):
    """Retrying cannot help: mark the delivery failed, visibly."""

    def __init__(self, error: str, code: str | None = None) -> None:
        super().__init__(error)
        self.code = code  # Slack's error code when Slack refused, e.g. channel_not_found


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


def _method_and_channel(response: Any) -> tuple[str | None, str | None]:
    """Which Slack method a response answers, and the channel the request named."""
    method = str(getattr(response, "api_url", "") or "").rstrip("/").rsplit("/", 1)[-1] or None
    channel = None
    for part in ("json", "data", "params"):
        args = (getattr(response, "req_args", None) or {}).get(part)
        if isinstance(args, dict) and args.get("channel"):
            channel = str(args["channel"])
            break
    return method, channel


def classify_slack_error(error: SlackApiError) -> Retry | GiveUp:
    response = error.response
    if response.status_code == 429:
        headers = response.headers or {}
        try:
            after = float(headers.get("Retry-After", headers.get("retry-after", 1)))
        except (TypeError, ValueError):
            after = 1.0
        method, channel = _method_and_channel(response)
        return Retry("Slack rate limit (429)", after, method=method, channel=channel)
    code = response.get("error") if isinstance(response.data, dict) else None
    if response.status_code >= 500 or not code:
        return Retry(f"Slack answered HTTP {response.status_code}")
    if code in PERMANENT_SLACK_ERRORS:
        return GiveUp(f"Slack refused: {code} {response.get('response_metadata') or ''}", code)
    return Retry(f"Slack error: {code}")


class RateLimits:
    """Slack's pauses, kept the way Slack sets them: per method and channel.

    A 429 for a call naming a channel pauses that method in that channel only (Slack's
    per-channel limits, e.g. one post a second); a 429 for a call without a channel
    (conversations.open, files.*) pauses that method everywhere. Nothing pauses every
    method at once: Slack's limits are per method. Thread-safe; the clock is passed in.
    """

    POST = "chat.postMessage"
    UPDATE = "chat.update"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str | None], datetime] = {}

    def pause(self, method: str, channel: str | None, until: datetime) -> None:
        with self._lock:
            key = (method, channel)
            if key not in self._until or self._until[key] < until:
                self._until[key] = until

    def wait_seconds(self, method: str, channel: str | None, now: datetime) -> float | None:
        """How long a call of `method` to `channel` must still wait, or None."""
        with self._lock:
            ends = [
                until
                for key in ((method, None), (method, channel))
                if (until := self._until.get(key)) is not None and until > now
            ]
        return max(ends).timestamp() - now.timestamp() if ends else None

    def paused(self, now: datetime) -> Paused:
        """The current pauses, as the outbox claim uses them to leave rows alone."""
        with self._lock:
            live = {key for key, until in self._until.items() if until > now}
            self._until = {key: until for key, until in self._until.items() if key in live}
        return Paused(
            post_channels=frozenset(c for m, c in live if m == self.POST and c is not None),
            update_channels=frozenset(c for m, c in live if m == self.UPDATE and c is not None),
            posts=(self.POST, None) in live,
            updates=(self.UPDATE, None) in live,
        )


def alert_targets(item: ReviewItem, rules: RulesFile) -> list[str]:
    """Who is told that an item cannot be posted: the route's first escalation step (its
    channel, else its people by DM), else `alerts.channel` (default: the digest channel)."""
    route = item.frozen_route()
    if route.escalation:
        step = route.escalation[0]
        return [step.channel] if step.channel else list(step.to)
    channel = rules.alerts_channel
    return [channel] if channel else []

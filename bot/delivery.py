"""What the outbox worker's deliveries share: how to retry, and what cannot be retried."""

import random
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk.errors import SlackApiError

# Slack errors that retrying cannot fix: the row is marked failed, visibly.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks",
        "invalid_arguments", "msg_too_long", "no_text", "message_not_found",
        "cant_update_message", "edit_window_closed", "invalid_metadata_format",
        "restricted_action", "too_many_attachments",
    }
)  # fmt: skip


class Retry(Exception):
    """Try again later: after `after` seconds when the other side said so, else by backoff."""

    def __init__(self, error: str, after: float | None = None) -> None:
        super().__init__(error)
        self.after = after


class GiveUp(Exception):
    """Retrying cannot help: mark the delivery failed, visibly."""


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


def classify_slack_error(error: SlackApiError) -> Retry | GiveUp:
    response = error.response
    if response.status_code == 429:
        headers = response.headers or {}
        after = float(headers.get("Retry-After", headers.get("retry-after", 1)))
        return Retry("Slack rate limit (429)", after)
    code = response.get("error") if isinstance(response.data, dict) else None
    if response.status_code >= 500 or not code:
        return Retry(f"Slack answered HTTP {response.status_code}")
    if code in PERMANENT_SLACK_ERRORS:
        return GiveUp(f"Slack refused: {code} {response.get('response_metadata') or ''}")
    return Retry(f"Slack error: {code}")

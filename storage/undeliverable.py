"""Items Slack refused for good: recorded on the item, told to the agent and to people.

A post that fails with an error waiting cannot fix (channel_not_found, is_archived, ...)
leaves the item `pending`, but marked undeliverable in the same transaction that queues
the agent's callback and an alert, so no item waits in silence.
"""

from datetime import datetime

from sqlmodel import Session

from storage import audit, outbox
from storage.db import Database
from storage.models import CallbackStatus, OutboxKind, ReviewItem


def mark(
    db: Database, item_id: str, *, error: str, now: datetime, alert_to: list[str]
) -> ReviewItem | None:
    """Marks the item undeliverable and queues its callback and one alert per target
    (a channel ID, or a user ID for a direct message). Returns None for an unknown item."""
    with db.write() as session:
        item = session.get(ReviewItem, item_id, with_for_update=True)
        if item is None:
            return None
        item.delivery_error = error
        item.delivery_failed_at = now
        audit.record(
            session,
            item_id=item_id,
            at=now,
            actor="hitl",
            source="worker",
            action="undeliverable",
            error=error,
        )
        _queue_followups(session, item, error=error, now=now, alert_to=alert_to)
        session.flush()
        return item


def _queue_followups(
    session: Session, item: ReviewItem, *, error: str, now: datetime, alert_to: list[str]
) -> None:
    if item.callback_url:
        item.callback_status = CallbackStatus.PENDING
        outbox.enqueue(session, item_id=item.id, kind=OutboxKind.CALLBACK, now=now)
    for target in alert_to:
        outbox.enqueue(
            session,
            item_id=item.id,
            kind=OutboxKind.POST_ALERT,
            now=now,
            payload={"target": target, "error": error},
        )

"""What the outbox worker records on an item once Slack or the agent has answered: where
its message was posted, and how its callback ended, each with its audit row."""

from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col

from storage import audit, outbox
from storage.db import Database
from storage.models import AuditEvent, CallbackStatus, ReviewItem, table_of
from storage.types import UTCDateTime


def mark_posted_and_complete(
    db: Database, item_id: str, row_id: int, *, channel: str, ts: str, now: datetime
) -> None:
    """The item is posted and its outbox row done, in one transaction."""
    if db.is_postgres:
        # One statement (atomic by itself) run without BEGIN and COMMIT: one round trip
        # where the transaction of three statements took five.
        detail = {"channel": channel, "ts": ts}
        params = {"posted_item_id": item_id, "row_id": row_id, "done_at": now, "posted_at": now}
        db.execute_atomic(_posted_and_complete, params | detail | {"audit_detail": detail})
        return
    with db.write() as session:
        _mark_posted(session, item_id, channel=channel, ts=ts, now=now)
        outbox.complete_in(session, row_id, now=now)


def _mark_posted(session: Session, item_id: str, *, channel: str, ts: str, now: datetime) -> None:
    session.connection().execute(
        _mark_posted_row, {"posted_item_id": item_id, "channel": channel, "ts": ts}
    )
    audit.record_written(
        session,
        item_id=item_id,
        at=now,
        actor="hitl",
        source="worker",
        action="posted",
        detail={"channel": channel, "ts": ts},
    )


# Bound names differ from the columns of every statement it joins: those are reserved.
_mark_posted_row = (
    update(table_of(ReviewItem))
    .where(col(ReviewItem.id) == bindparam("posted_item_id"))
    .values(channel=bindparam("channel"), message_ts=bindparam("ts"))
)
# `_mark_posted` and `outbox.complete_in` as one statement, for PostgreSQL (whose
# data-modifying WITH clauses SQLite lacks): the same rows, written at once.
_posted_and_complete = outbox.complete_row.add_cte(
    _mark_posted_row.cte("posted"),
    insert(table_of(AuditEvent))
    .values(
        # Bound names differ from every column's: those are reserved for the columns.
        item_id=bindparam("posted_item_id"),
        at=bindparam("posted_at", type_=UTCDateTime),
        actor="hitl",
        source="worker",
        action="posted",
        detail=bindparam("audit_detail", type_=table_of(AuditEvent).c.detail.type),
    )
    .cte("posted_audit"),
)


def set_callback_status(
    db: Database,
    item_id: str,
    status: CallbackStatus,
    *,
    now: datetime,
    error: str | None = None,
    delivery_id: str,
    attempts: int,
) -> None:
    with db.write() as session:
        session.execute(
            update(ReviewItem)
            .where(col(ReviewItem.id) == item_id)
            .values(callback_status=status, callback_error=error)
        )
        audit.record(
            session,
            item_id=item_id,
            at=now,
            actor="hitl",
            source="worker",
            action=f"callback_{status}",
            delivery_id=delivery_id,
            attempts=attempts,
            error=error,
        )

"""The outbox: side effects recorded with the change that causes them, delivered later.

A row is claimed with a lease; a process that dies mid-delivery leaves the lease to run
out and another worker claims the row again. Slack rows of one item are delivered in
order (a message is posted before it is updated); callbacks do not wait for Slack.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from ulid import ULID

from storage.db import Database
from storage.models import OutboxKind, OutboxMessage, OutboxStatus

SLACK_KINDS = (OutboxKind.POST_ITEM, OutboxKind.POST_ESCALATION, OutboxKind.UPDATE_ITEM)


def enqueue(
    session: Session,
    *,
    item_id: str | None,
    kind: OutboxKind,
    now: datetime,
    payload: dict[str, Any] | None = None,
    give_up_at: datetime | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        delivery_id=f"msg_{ULID()}",
        item_id=item_id,
        kind=kind,
        payload=payload or {},
        created_at=now,
        due_at=now,
        give_up_at=give_up_at,
    )
    session.add(message)
    return message


def claim_due(db: Database, *, now: datetime, lease: timedelta, limit: int) -> list[OutboxMessage]:
    """Take up to `limit` due rows for this worker until `now + lease`."""
    earlier = aliased(OutboxMessage)
    earlier_slack_row_pending = exists().where(
        earlier.item_id == OutboxMessage.item_id,
        col(earlier.kind).in_(SLACK_KINDS),
        earlier.status == OutboxStatus.PENDING,
        col(earlier.id) < col(OutboxMessage.id),
    )
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            col(OutboxMessage.due_at) <= now,
            or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now),
            or_(
                col(OutboxMessage.kind).not_in(SLACK_KINDS),
                ~earlier_slack_row_pending,
            ),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    with db.write() as session:
        rows = list(session.exec(query))
        for row in rows:
            row.lease_until = now + lease
            row.attempts += 1
        session.flush()
        return rows


def complete(db: Database, row_id: int, *, now: datetime) -> None:
    _finish(db, row_id, status=OutboxStatus.DONE, now=now, error=None)


def give_up(db: Database, row_id: int, *, now: datetime, error: str) -> None:
    _finish(db, row_id, status=OutboxStatus.FAILED, now=now, error=error)


def _finish(
    db: Database, row_id: int, *, status: OutboxStatus, now: datetime, error: str | None
) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(and_(col(OutboxMessage.id) == row_id))
            .values(status=status, done_at=now, lease_until=None, last_error=error)
        )


def retry_at(db: Database, row_id: int, *, due_at: datetime, error: str) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id)
            .values(due_at=due_at, lease_until=None, last_error=error)
        )


def rows_for_item(db: Database, item_id: str) -> list[OutboxMessage]:
    with db.read() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.item_id == item_id)
            .order_by(col(OutboxMessage.id))
        )
        return list(session.exec(query))

"""Firing deadlines: escalate each item to the next people, or apply `on_exhausted`.

Everything a firing changes is in one transaction: the step is marked fired, the next step
inserted, the item's level and deadline moved, the notifications queued in the outbox. A
burst of due steps fires in batches, one transaction and a fixed number of statements each.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, SQLModel, col, select
from ulid import ULID

from storage import deadlines, reminders
from storage.db import Database
from storage.deadlines import StepPlan
from storage.item_locks import lock_items_then_rows
from storage.models import (
    AuditEvent,
    EscalationStepRow,
    ItemMessage,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    ReminderRow,
    ReviewItem,
    Status,
    StepStatus,
)
from storage.reviews import record_decision


@dataclass(frozen=True)
class Firing:
    """What the rules say a due step does (worked out by the caller from the frozen route)."""

    to: list[str] = field(default_factory=list)
    channel: str | None = None  # None: each person by direct message
    next_step: StepPlan | None = None
    exhaust_status: Status | None = None  # for the "chain ran out" row: expired or rejected
    reminder: reminders.ReminderPlan | None = None  # the new level's first reminder
    thread_note: str | None = None  # mrkdwn replied in the original's thread (POST_THREAD)


class FireOutcome(StrEnum):
    ESCALATED = "escalated"
    EXHAUSTED = "exhausted"
    STALE = "stale"  # already fired, or the item was decided first


@dataclass(frozen=True)
class FireResult:
    outcome: FireOutcome
    item_id: str
    level: int = 0


def fire(
    db: Database,
    step_id: int,
    *,
    now: datetime,
    plan: Callable[[ReviewItem, EscalationStepRow], Firing],
) -> FireResult:
    return fire_many(db, [step_id], now=now, plan=plan)[0]


def fire_many(
    db: Database,
    step_ids: list[int],
    *,
    now: datetime,
    plan: Callable[[ReviewItem, EscalationStepRow], Firing],
) -> list[FireResult]:
    """Fires several claimed steps in one transaction; a result per step, in order.

    The statements are per batch, not per step: one SELECT locks the batch's items, one its
    steps, one finds which items still wait for their first post, and the rows the firings
    add and change are written in bulk (an INSERT per table, an UPDATE per kind of change).
    """
    if not step_ids:
        return []
    with db.write() as session:
        return _fire_batch(session, step_ids, now, plan)


@dataclass
class _Rows:
    """The rows a batch of firings adds, written with one INSERT per table."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)


def _fire_batch(
    session: Session,
    step_ids: list[int],
    now: datetime,
    plan: Callable[[ReviewItem, EscalationStepRow], Firing],
) -> list[FireResult]:
    items, steps = lock_items_then_rows(session, EscalationStepRow, step_ids)
    waiting_for_post = _first_post_pending(
        session, [item.id for item in items.values() if item.message_ts is None]
    )
    rows = _Rows()
    results: list[FireResult] = []
    for step_id in step_ids:
        step = steps.get(step_id)
        if step is None:
            results.append(FireResult(FireOutcome.STALE, ""))
            continue
        item = items[step.item_id]
        # Checked under the lock: a step fires once, and never for a decided item.
        if step.status != StepStatus.PENDING:
            results.append(FireResult(FireOutcome.STALE, item.id))
            continue
        step.lease_until = None
        if item.status != Status.PENDING:
            step.status = StepStatus.CANCELLED
            results.append(FireResult(FireOutcome.STALE, item.id))
            continue
        firing = plan(item, step)
        step.status = StepStatus.FIRED
        step.fired_at = now
        if step.exhaust:
            results.append(_exhaust(session, item, firing, now, waiting_for_post, rows))
        else:
            level = _escalate(item, step, firing, now, waiting_for_post, rows)
            results.append(FireResult(FireOutcome.ESCALATED, item.id, level))
    _write(session, rows, now)
    return results


def _write(session: Session, rows: _Rows, now: datetime) -> None:
    """Inserts what the firings added, one INSERT per table for all its rows (plain rows:
    building an ORM object per row cost more than the rest of a firing); the items and
    steps they changed are flushed by the commit, one UPDATE per set of changed columns."""
    if rows.messages:
        messages = _table(ItemMessage)
        inserted = session.execute(
            insert(messages).returning(
                messages.c.id, messages.c.item_id, messages.c.level, messages.c.target
            ),
            rows.messages,
        )
        # Each post carries its message's id; matched by the message's unique key.
        message_ids = {(item_id, level, target): id_ for id_, item_id, level, target in inserted}
        for message in rows.messages:
            key = (message["item_id"], message["level"], message["target"])
            payload = {"message_id": message_ids[key]}
            rows.outbox.append(
                _outbox_row(message["item_id"], OutboxKind.POST_ESCALATION, now, payload)
            )
    for table, values in (
        (_table(EscalationStepRow), rows.steps),
        (_table(OutboxMessage), rows.outbox),
        (_table(AuditEvent), rows.audit),
        (_table(ReminderRow), rows.reminders),
    ):
        if values:
            session.execute(insert(table), values)


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _outbox_row(
    item_id: str, kind: OutboxKind, now: datetime, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An outbox row as outbox.enqueue makes it, for a bulk insert."""
    return {
        "delivery_id": f"msg_{ULID()}",
        "item_id": item_id,
        "kind": kind,
        "payload": payload or {},
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "due_at": now,
        "give_up_at": None,
    }


def _first_post_pending(session: Session, item_ids: list[str]) -> set[str]:
    """Items whose first post is still queued (the set-based form of the check in
    reviews.enqueue_update)."""
    if not item_ids:
        return set()
    query = select(OutboxMessage.item_id).where(
        col(OutboxMessage.item_id).in_(item_ids),
        OutboxMessage.kind == OutboxKind.POST_ITEM,
        OutboxMessage.status == OutboxStatus.PENDING,
    )
    return {item_id for item_id in session.exec(query) if item_id is not None}


def _queue_update(item: ReviewItem, now: datetime, waiting_for_post: set[str], rows: _Rows) -> None:
    """Re-render the item's messages; a post still queued may already be on its way with
    the old state, so an update is queued behind it too (as reviews.enqueue_update)."""
    if item.message_ts is not None or item.id in waiting_for_post:
        rows.outbox.append(_outbox_row(item.id, OutboxKind.UPDATE_ITEM, now))


def _exhaust(
    session: Session,
    item: ReviewItem,
    firing: Firing,
    now: datetime,
    waiting_for_post: set[str],
    rows: _Rows,
) -> FireResult:
    assert firing.exhaust_status is not None
    record_decision(
        session,
        item,
        status=firing.exhaust_status,
        by="hitl",
        source="system",
        now=now,
        reason="no_decision" if firing.exhaust_status == Status.REJECTED else None,
        note="Nobody decided before the escalation chain ran out.",
    )
    _queue_update(item, now, waiting_for_post, rows)
    return FireResult(FireOutcome.EXHAUSTED, item.id, item.escalation_level)


def _escalate(
    item: ReviewItem,
    step: EscalationStepRow,
    firing: Firing,
    now: datetime,
    waiting_for_post: set[str],
    rows: _Rows,
) -> int:
    level = item.escalation_level + 1
    item.escalation_level = level
    # A new list, so SQLAlchemy sees the JSON column change.
    item.escalations = [
        *item.escalations,
        {
            "level": level,
            "to": firing.to,
            "channel": firing.channel,
            "at": now.isoformat(),
            "step": step.step,
            "repeat": step.repeat,
        },
    ]
    item.deadline = firing.next_step.due_at if firing.next_step else None
    if firing.next_step is not None:
        rows.steps.append(deadlines.row(item.id, firing.next_step))
    if firing.reminder is not None:
        rows.reminders.append(reminders.row(item.id, firing.reminder))
    # The original message learns of the escalation first; the escalation messages are
    # posted after it (their outbox rows come later), already showing the current state.
    _queue_update(item, now, waiting_for_post, rows)
    if firing.thread_note and (item.message_ts is not None or item.id in waiting_for_post):
        rows.outbox.append(
            _outbox_row(item.id, OutboxKind.POST_THREAD, now, {"text": firing.thread_note})
        )
    for target in [firing.channel] if firing.channel else firing.to:
        rows.messages.append({"item_id": item.id, "level": level, "target": target, "at": now})
    rows.audit.append(
        {
            "item_id": item.id,
            "at": now,
            "actor": "hitl",
            "source": "scheduler",
            "action": "escalated",
            "from_status": None,
            "to_status": None,
            "detail": {
                "level": level,
                "to": firing.to,
                "channel": firing.channel,
                "step": step.step,
                "repeat": step.repeat,
                "due_at": step.due_at.isoformat(),
                "late_seconds": (now - step.due_at).total_seconds(),
            },
        }
    )
    return level


def messages_of(db: Database, item_id: str) -> list[ItemMessage]:
    with db.read() as session:
        query = (
            select(ItemMessage).where(ItemMessage.item_id == item_id).order_by(col(ItemMessage.id))
        )
        return list(session.exec(query))


def get_message(db: Database, message_id: int) -> ItemMessage | None:
    with db.read() as session:
        return session.get(ItemMessage, message_id)


def mark_message_posted(db: Database, message_id: int, *, channel: str, ts: str) -> None:
    with db.write() as session:
        message = session.get(ItemMessage, message_id)
        assert message is not None
        message.channel, message.ts = channel, ts
        session.add(message)

"""Reminder rows (the `reminder` table): scheduled with the item or its escalation, claimed
by the escalation clock like steps (storage.deadlines.claim_due_rows), fired here.

Firing a reminder is one transaction: under the item's lock it checks the reminder is still
pending and the item still waits at the reminder's level, marks it fired, queues the reply
in the item's thread (outbox POST_THREAD) and inserts the next reminder. So a reminder is
posted once even if two replicas claim it one after the other, and never after a decision
or once the next step has fired.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, SQLModel, col, select

from storage import audit, outbox
from storage.db import Database
from storage.item_locks import lock_items_then_rows
from storage.models import OutboxKind, ReminderRow, ReviewItem, Status, StepStatus

_TABLE: Table = SQLModel.metadata.tables["reminder"]


@dataclass(frozen=True)
class ReminderPlan:
    """A reminder to insert: reminder `seq` of escalation `level`, due at `due_at`."""

    level: int
    seq: int
    due_at: datetime


@dataclass(frozen=True)
class ReminderFiring:
    """What a due reminder does (worked out by the caller from the frozen route)."""

    text: str  # mrkdwn for the item's thread
    mentioned: list[str]  # who it names, for the audit trail
    next_reminder: ReminderPlan | None = None


@dataclass(frozen=True)
class ReminderResult:
    reminder_id: int
    item_id: str
    fired: bool  # False: already fired, or the item was decided or escalated first


def row(item_id: str, plan: ReminderPlan) -> dict[str, Any]:
    """A pending reminder as plain values, for a bulk insert."""
    return {
        "item_id": item_id,
        "level": plan.level,
        "seq": plan.seq,
        "due_at": plan.due_at,
        "status": StepStatus.PENDING,
        "lease_until": None,
        "worker_id": None,
        "fired_at": None,
    }


def schedule(session: Session, item_id: str, plan: ReminderPlan) -> None:
    """Inserts the reminder with one Core statement (the item may have been written so)."""
    session.connection().execute(insert(_TABLE), row(item_id, plan))


def fire_many(
    db: Database,
    reminder_ids: list[int],
    *,
    now: datetime,
    plan: Callable[[ReviewItem, ReminderRow], ReminderFiring],
) -> list[ReminderResult]:
    """Fires claimed reminders in one transaction; a result per reminder, in order."""
    if not reminder_ids:
        return []
    with db.write() as session:
        items, reminders = lock_items_then_rows(session, ReminderRow, reminder_ids)
        results: list[ReminderResult] = []
        for reminder_id in reminder_ids:
            reminder = reminders.get(reminder_id)
            if reminder is None:
                results.append(ReminderResult(reminder_id, "", False))
                continue
            item = items[reminder.item_id]
            if reminder.status != StepStatus.PENDING:
                results.append(ReminderResult(reminder_id, item.id, False))
                continue
            reminder.lease_until = None
            if item.status != Status.PENDING or item.escalation_level != reminder.level:
                reminder.status = StepStatus.CANCELLED  # decided, or the next step came first
                results.append(ReminderResult(reminder_id, item.id, False))
                continue
            firing = plan(item, reminder)
            reminder.status, reminder.fired_at = StepStatus.FIRED, now
            outbox.enqueue(
                session,
                item_id=item.id,
                kind=OutboxKind.POST_THREAD,
                now=now,
                payload={"text": firing.text},
            )
            audit.record(
                session,
                item_id=item.id,
                at=now,
                actor="hitl",
                source="scheduler",
                action="reminded",
                level=reminder.level,
                seq=reminder.seq,
                mentioned=firing.mentioned,
                due_at=reminder.due_at.isoformat(),
            )
            if firing.next_reminder is not None:
                schedule(session, item.id, firing.next_reminder)
            results.append(ReminderResult(reminder_id, item.id, True))
        return results


def reminders_of(db: Database, item_id: str) -> list[ReminderRow]:
    with db.read() as session:
        query = (
            select(ReminderRow)
            .where(ReminderRow.item_id == item_id)
            .order_by(col(ReminderRow.level), col(ReminderRow.seq))
        )
        return list(session.exec(query))

"""Deadline rows (the `escalation_step` table): scheduling, claiming and cancelling.

A sweeper claims due rows with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN
IMMEDIATE on SQLite) in one UPDATE per claim; firing happens in a later transaction per
batch (storage.escalations), which checks each row is still pending under a lock, so a step
fires once even if two sweepers race or a claimer dies and its lease runs out.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from storage import workers
from storage.db import Database
from storage.models import EscalationStepRow, StepStatus


@dataclass(frozen=True)
class StepPlan:
    """A deadline to insert: what the rules say comes next for an item."""

    step_index: int
    step: int
    repeat: int
    exhaust: bool
    due_at: datetime


def row(item_id: str, plan: StepPlan) -> dict[str, Any]:
    """A pending deadline row as plain values, for a bulk insert."""
    return {
        "item_id": item_id,
        "step_index": plan.step_index,
        "step": plan.step,
        "repeat": plan.repeat,
        "exhaust": plan.exhaust,
        "due_at": plan.due_at,
        "status": StepStatus.PENDING,
        "lease_until": None,
        "worker_id": None,
        "fired_at": None,
    }


def schedule(session: Session, item_id: str, plan: StepPlan) -> EscalationStepRow:
    row = EscalationStepRow(
        item_id=item_id,
        step_index=plan.step_index,
        step=plan.step,
        repeat=plan.repeat,
        exhaust=plan.exhaust,
        due_at=plan.due_at,
    )
    session.add(row)
    return row


def cancel_pending(session: Session, item_id: str) -> None:
    session.execute(
        update(EscalationStepRow)
        .where(
            col(EscalationStepRow.item_id) == item_id,
            col(EscalationStepRow.status) == StepStatus.PENDING,
        )
        .values(status=StepStatus.CANCELLED, lease_until=None)
    )


def claim_due(
    db: Database,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    worker_id: str | None = None,
    dead_before: datetime | None = None,
) -> list[EscalationStepRow]:
    """Due steps for this worker; a lease whose holder stopped heartbeating (last beat
    before `dead_before`) is free, so a crashed sweeper's steps fire in seconds."""
    lease_free = workers.lease_is_free(
        col(EscalationStepRow.lease_until),
        col(EscalationStepRow.worker_id),
        now=now,
        dead_before=dead_before,
        me=worker_id,
    )
    query = (
        select(EscalationStepRow)
        .where(
            EscalationStepRow.status == StepStatus.PENDING,
            col(EscalationStepRow.due_at) <= now,
            lease_free,
        )
        .order_by(col(EscalationStepRow.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with db.write() as session:
        rows = list(session.exec(query))
        if rows:
            # One UPDATE for the whole claim (it also updates the rows loaded above).
            session.execute(
                update(EscalationStepRow)
                .where(col(EscalationStepRow.id).in_([row.id for row in rows]))
                .values(lease_until=now + lease, worker_id=worker_id)
            )
        return rows


def release_held_by(db: Database, worker_id: str) -> int:
    """Frees pending steps leased to `worker_id` (called when it holds none for sure: a
    claim whose answer was lost may have leased some)."""
    with db.write() as session:
        result = session.execute(
            update(EscalationStepRow)
            .where(
                col(EscalationStepRow.worker_id) == worker_id,
                col(EscalationStepRow.status) == StepStatus.PENDING,
            )
            .values(lease_until=None, worker_id=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def next_due_at(db: Database) -> datetime | None:
    with db.read() as session:
        query = select(func.min(EscalationStepRow.due_at)).where(
            EscalationStepRow.status == StepStatus.PENDING
        )
        return session.exec(query).one()


def pending_for_item(db: Database, item_id: str) -> list[EscalationStepRow]:
    with db.read() as session:
        query = (
            select(EscalationStepRow)
            .where(
                EscalationStepRow.item_id == item_id,
                EscalationStepRow.status == StepStatus.PENDING,
            )
            .order_by(col(EscalationStepRow.step_index))
        )
        return list(session.exec(query))

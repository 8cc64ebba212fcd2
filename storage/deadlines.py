"""Deadline rows (the `escalation_step` and `reminder` tables): scheduling, claiming,
deferring and cancelling.

A sweeper claims due rows with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN
IMMEDIATE on SQLite) in one UPDATE per claim; firing happens in a later transaction per
batch (storage.escalations), which checks each row is still pending under a lock, so a step
fires once even if two sweepers race or a claimer dies and its lease runs out.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert, update
from sqlmodel import Session, col, func, select

from storage import workers
from storage.db import Database
from storage.models import EscalationStepRow, ReminderRow, ReviewItem, StepStatus, table_of

# Both kinds of deadline rows share these columns: id, item_id, due_at, status, lease_until,
# worker_id, fired_at.
DeadlineRow = TypeVar("DeadlineRow", EscalationStepRow, ReminderRow)


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


def schedule(session: Session, item_id: str, plan: StepPlan) -> None:
    """Inserts the deadline with one Core statement (no ORM object: submissions are the
    hot path, and the item may have been written the same way)."""
    session.connection().execute(insert(table_of(EscalationStepRow)), row(item_id, plan))


def cancel_pending(session: Session, item_id: str) -> None:
    """A decided item escalates no further, and nobody is reminded of it."""
    for model in (EscalationStepRow, ReminderRow):
        session.execute(
            update(model)
            .where(col(model.item_id) == item_id, col(model.status) == StepStatus.PENDING)
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
    return claim_due_rows(
        db,
        EscalationStepRow,
        now=now,
        lease=lease,
        limit=limit,
        worker_id=worker_id,
        dead_before=dead_before,
    )


def claim_due_rows(
    db: Database,
    model: type[DeadlineRow],
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    worker_id: str | None = None,
    dead_before: datetime | None = None,
) -> list[DeadlineRow]:
    """Due rows of `model` (steps or reminders), leased to this worker in one UPDATE."""
    lease_free = workers.lease_is_free(
        col(model.lease_until),
        col(model.worker_id),
        now=now,
        dead_before=dead_before,
        me=worker_id,
    )
    query = (
        select(model)
        .where(model.status == StepStatus.PENDING, col(model.due_at) <= now, lease_free)
        .order_by(col(model.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with db.write() as session:
        rows = list(session.exec(query))
        if rows:
            # One UPDATE for the whole claim (it also updates the rows loaded above).
            session.execute(
                update(model)
                .where(col(model.id).in_([row.id for row in rows]))
                .values(lease_until=now + lease, worker_id=worker_id)
            )
        return rows


RouteVersion = tuple[str, str]  # (route name, rules version): the same frozen route


def route_versions_of(db: Database, item_ids: Iterable[str]) -> dict[str, RouteVersion]:
    """Which frozen route each item has, without reading the routes: items routed by the
    same route of the same rules file share one (its calendar is looked up once)."""
    ids = set(item_ids)
    if not ids:
        return {}
    with db.read() as session:
        found = session.exec(
            select(ReviewItem.id, ReviewItem.route, ReviewItem.rules_version).where(
                col(ReviewItem.id).in_(ids)
            )
        ).all()
    return {item_id: (route, version) for item_id, route, version in found}


def frozen_route_of(db: Database, item_id: str) -> dict[str, Any] | None:
    with db.read() as session:
        found = session.exec(
            select(ReviewItem.route_snapshot).where(ReviewItem.id == item_id)
        ).first()
    return dict(found) if found is not None else None


def any_due(db: Database, model: type[DeadlineRow], now: datetime) -> bool:
    """Whether a pending row of `model` is due: a read, so an idle sweep takes no write
    lock (on SQLite a claim does, even when it finds nothing)."""
    with db.read() as session:
        first = session.exec(
            select(func.min(model.due_at)).where(model.status == StepStatus.PENDING)
        ).one()
    return first is not None and first <= now


def defer(db: Database, model: type[DeadlineRow], row_id: int, until: datetime) -> None:
    """A claimed row that fell due outside working hours waits for the next working
    instant; the item's shown deadline moves with it when it is that row's."""
    with db.write() as session:
        row = session.get(model, row_id, with_for_update=True)
        if row is None or row.status != StepStatus.PENDING:
            return
        previous = row.due_at
        row.due_at, row.lease_until, row.worker_id = until, None, None
        session.add(row)
        if model is EscalationStepRow:
            session.execute(
                update(ReviewItem)
                .where(col(ReviewItem.id) == row.item_id, col(ReviewItem.deadline) == previous)
                .values(deadline=until)
            )


def release_held_by(db: Database, worker_id: str) -> int:
    """Frees pending steps and reminders leased to `worker_id` (called when it holds none
    for sure: a claim whose answer was lost may have leased some)."""
    released = 0
    with db.write() as session:
        for model in (EscalationStepRow, ReminderRow):
            result = session.execute(
                update(model)
                .where(col(model.worker_id) == worker_id, col(model.status) == StepStatus.PENDING)
                .values(lease_until=None, worker_id=None)
            )
            released += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return released


def next_due_at(db: Database) -> datetime | None:
    """The earliest pending step or reminder (one statement: an idle sweep asks this)."""
    earliest = [
        select(func.min(model.due_at)).where(model.status == StepStatus.PENDING).scalar_subquery()
        for model in (EscalationStepRow, ReminderRow)
    ]
    with db.read() as session:
        due = session.exec(select(*earliest)).one()
    times = [when for when in due if when is not None]
    return min(times) if times else None


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

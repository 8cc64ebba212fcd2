"""Firing one deadline: escalate the item to the next people, or apply `on_exhausted`.

Everything a firing changes is one transaction: the step is marked fired, the next step
inserted, the item's level and deadline moved, the notifications queued in the outbox.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from storage import audit, deadlines, outbox
from storage.db import Database
from storage.deadlines import StepPlan
from storage.models import (
    EscalationStepRow,
    ItemMessage,
    OutboxKind,
    ReviewItem,
    Status,
    StepStatus,
)
from storage.reviews import enqueue_update, record_decision


@dataclass(frozen=True)
class Firing:
    """What the rules say a due step does (worked out by the caller from the frozen route)."""

    to: list[str] = field(default_factory=list)
    channel: str | None = None  # None: each person by direct message
    next_step: StepPlan | None = None
    exhaust_status: Status | None = None  # for the "chain ran out" row: expired or rejected


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
    """Fires several claimed steps in one transaction: one commit instead of many."""
    with db.write() as session:
        return [_fire_one(session, step_id, now, plan) for step_id in step_ids]


def _fire_one(
    session: Session,
    step_id: int,
    now: datetime,
    plan: Callable[[ReviewItem, EscalationStepRow], Firing],
) -> FireResult:
    found = session.get(EscalationStepRow, step_id)
    if found is None:
        return FireResult(FireOutcome.STALE, "")
    # Lock the item before the step, in the same order a decision does, so a decision and
    # a firing at the same moment wait for each other instead of deadlocking.
    item = session.get(ReviewItem, found.item_id, with_for_update=True)
    step = session.get(EscalationStepRow, step_id, with_for_update=True, populate_existing=True)
    assert item is not None and step is not None
    if step.status != StepStatus.PENDING:
        return FireResult(FireOutcome.STALE, item.id)
    step.lease_until = None
    if item.status != Status.PENDING:
        step.status = StepStatus.CANCELLED
        return FireResult(FireOutcome.STALE, item.id)
    firing = plan(item, step)
    step.status = StepStatus.FIRED
    step.fired_at = now
    session.add(step)
    if step.exhaust:
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
        enqueue_update(session, item, now)
        return FireResult(FireOutcome.EXHAUSTED, item.id, item.escalation_level)
    level = _escalate(session, item, step, firing, now)
    return FireResult(FireOutcome.ESCALATED, item.id, level)


def _escalate(
    session: Session, item: ReviewItem, step: EscalationStepRow, firing: Firing, now: datetime
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
        deadlines.schedule(session, item.id, firing.next_step)
    session.add(item)
    # The original message learns of the escalation first; the escalation messages are
    # posted after it, already showing the current state, so they need no update.
    enqueue_update(session, item, now)
    for target in [firing.channel] if firing.channel else firing.to:
        message = ItemMessage(item_id=item.id, level=level, target=target, at=now)
        session.add(message)
        session.flush()
        outbox.enqueue(
            session,
            item_id=item.id,
            kind=OutboxKind.POST_ESCALATION,
            now=now,
            payload={"message_id": message.id},
        )
    audit.record(
        session,
        item_id=item.id,
        at=now,
        actor="hitl",
        source="scheduler",
        action="escalated",
        level=level,
        to=firing.to,
        channel=firing.channel,
        step=step.step,
        repeat=step.repeat,
        due_at=step.due_at.isoformat(),
        late_seconds=(now - step.due_at).total_seconds(),
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

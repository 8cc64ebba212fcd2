"""Commands and queries on review items. Each command is one transaction that changes the
item, records the change in the audit trail and queues its side effects in the outbox, so
that they happen together or not at all."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from ulid import ULID

from storage import audit, deadlines, home_viewers, outbox, reminders
from storage.db import Database
from storage.deadlines import StepPlan
from storage.home_viewers import HomeRefresh
from storage.models import (
    Approval,
    CallbackStatus,
    Decision,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    ReviewItem,
    Status,
    table_of,
)
from storage.reminders import ReminderPlan


def new_item_id() -> str:
    return f"rv_{ULID()}"


@dataclass(frozen=True)
class NewItem:
    """What an agent submitted, already validated at the API boundary."""

    agent: str
    workflow: str
    title: str
    output: str | dict[str, Any]  # a text, or a structured item's flat object
    confidence: float
    context: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None  # structured items only

    @property
    def field_order(self) -> list[str] | None:
        """A structured item's fields in the order shown: the schema's, else as sent."""
        if not isinstance(self.output, dict):
            return None
        return list((self.output_schema or {}).get("properties") or self.output)


@dataclass(frozen=True)
class Routing:
    """Where the rules sent an item, frozen with the item."""

    route: str
    route_snapshot: dict[str, Any]
    rules_version: str
    channel: str
    auto_approved: bool
    first_step: StepPlan | None = None  # the chain's first deadline, if it has one
    first_reminder: ReminderPlan | None = None  # the route's first reminder, if it reminds
    post_to_slack: bool = True
    # The App Homes to refresh, queued in the submission's own transaction.
    home_refresh: HomeRefresh | None = None


@dataclass(frozen=True)
class Created:
    item: ReviewItem
    decision: Decision | None
    created: bool  # False: an earlier submission with the same external_id


def create_item(db: Database, new: NewItem, routing: Routing, *, now: datetime) -> Created:
    try:
        with db.write() as session:
            item = _insert_item(session, new, routing, now)
            decision = None
            if routing.auto_approved:
                decision = record_decision(
                    session,
                    item,
                    status=Status.AUTO_APPROVED,
                    by="hitl",
                    source="system",
                    now=now,
                    final_output=new.output,
                )
            elif routing.first_step is not None:
                deadlines.schedule(session, item.id, routing.first_step)
            if not routing.auto_approved and routing.first_reminder is not None:
                reminders.schedule(session, item.id, routing.first_reminder)
            if routing.post_to_slack:
                outbox.enqueue_written(session, item_id=item.id, kind=OutboxKind.POST_ITEM, now=now)
            if routing.home_refresh is not None:
                home_viewers.queue_publish_in(session, routing.home_refresh, now=now)
            return Created(item=item, decision=decision, created=True)
    except IntegrityError:
        if new.external_id is None:
            raise
        existing = find_by_external_id(db, new.agent, new.external_id)
        if existing is None:  # the conflict was something else
            raise
        return Created(item=existing, decision=get_decision(db, existing.id), created=False)


def _insert_item(session: Session, new: NewItem, routing: Routing, now: datetime) -> ReviewItem:
    item = ReviewItem(
        id=new_item_id(),
        agent=new.agent,
        external_id=new.external_id,
        workflow=new.workflow,
        route=routing.route,
        route_snapshot=routing.route_snapshot,
        rules_version=routing.rules_version,
        title=new.title,
        output=new.output,
        output_schema=new.output_schema,
        field_order=new.field_order,
        confidence=new.confidence,
        context=new.context,
        links=new.links,
        callback_url=new.callback_url,
        item_metadata=new.metadata,
        status=Status.PENDING,
        channel=routing.channel,
        created_at=now,
        deadline=routing.first_step.due_at if routing.first_step else None,
        first_deadline=routing.first_step.due_at if routing.first_step else None,
        callback_status=CallbackStatus.NONE,
        escalations=[],
    )
    # Core statements, not the unit of work: a third of a submission's CPU went to it.
    # A duplicate external_id fails here, inside the transaction.
    connection = session.connection()
    connection.execute(_insert_item_row, _item_row(item))
    audit.record_written(
        session,
        item_id=item.id,
        at=now,
        actor=new.agent,
        source="api",
        action="created",
        to_status=Status.PENDING,
        detail={"route": routing.route, "rules_version": routing.rules_version},
    )
    # Known to the session as the row just written, so later changes in this
    # transaction (an auto-approval) are saved as an UPDATE.
    for key in sa_inspect(item).unloaded:  # never set: written as None, read as None
        set_committed_value(item, key, None)
    make_transient_to_detached(item)
    session.add(item)
    return item


def _item_row(item: ReviewItem) -> dict[str, Any]:
    """The item's row by column name; None is left to a column's server default, as the
    ORM does."""
    row = {}
    for key, column, has_default in _ITEM_COLUMNS:
        value = getattr(item, key)
        if value is not None or not has_default:
            row[column] = value
    return row


_insert_item_row = insert(table_of(ReviewItem))
# (attribute, column, has a server default): `item_metadata` is the column `metadata`.
_ITEM_COLUMNS = [
    (attr.key, attr.columns[0].key, attr.columns[0].server_default is not None)
    for attr in sa_inspect(ReviewItem).column_attrs
]


class Outcome(StrEnum):
    DECIDED = "decided"
    APPROVAL_RECORDED = "approval_recorded"  # four-eyes: more approvals still needed
    ALREADY_APPROVED = "already_approved"  # this person's approval is already counted
    ALREADY_DECIDED = "already_decided"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    INVALID_REASON = "invalid_reason"  # a rejection reason the item's route does not list


@dataclass(frozen=True)
class DecideResult:
    outcome: Outcome
    item: ReviewItem | None = None
    decision: Decision | None = None
    approvers: tuple[str, ...] = ()  # four-eyes: who has approved the current text


def approve(
    db: Database,
    item_id: str,
    *,
    by: str,
    source: str,
    now: datetime,
    required: Callable[[ReviewItem], int],
    may_decide: Callable[[ReviewItem], bool] = lambda _item: True,
    edited_output: str | dict[str, Any] | None = None,
) -> DecideResult:
    """Count one person's approval; the item is decided when `required(item)` people agree.

    An edit proposes new text: earlier approvals (of the old text) lapse and the editor's
    approval counts for the new one. With one approval required this is a plain decision.
    """
    with db.write() as session:
        item = session.get(ReviewItem, item_id, with_for_update=True)
        if item is None:
            return DecideResult(Outcome.NOT_FOUND)
        if item.status != Status.PENDING:
            return DecideResult(Outcome.ALREADY_DECIDED, item, _decision_of(session, item_id))
        if not may_decide(item):
            return DecideResult(Outcome.FORBIDDEN, item)
        needed = required(item)
        if edited_output is not None:
            item.approval_round += 1
            item.final_output = edited_output
        approvers = approvers_in(session, item)
        if by in approvers:
            return DecideResult(Outcome.ALREADY_APPROVED, item, approvers=tuple(approvers))
        session.add(Approval(item_id=item.id, round=item.approval_round, user_id=by, at=now))
        approvers.append(by)
        edited = item.approval_round > 0
        if len(approvers) < needed:
            session.add(item)
            audit.record(
                session,
                item_id=item.id,
                at=now,
                actor=by,
                source=source,
                action="edit_proposed" if edited_output is not None else "approval_recorded",
                approvers=approvers,
                required=needed,
            )
            enqueue_update(session, item, now)
            return DecideResult(Outcome.APPROVAL_RECORDED, item, approvers=tuple(approvers))
        decision = record_decision(
            session,
            item,
            status=Status.EDITED if edited else Status.APPROVED,
            by=by,
            source=source,
            now=now,
            final_output=item.final_output if edited else None,
        )
        enqueue_update(session, item, now)
        return DecideResult(Outcome.DECIDED, item, decision, tuple(approvers))


def approvers_in(session: Session, item: ReviewItem) -> list[str]:
    query = (
        select(Approval.user_id)
        .where(Approval.item_id == item.id, Approval.round == item.approval_round)
        .order_by(col(Approval.id))
    )
    return list(session.exec(query))


def approvers_of(db: Database, item: ReviewItem) -> list[str]:
    with db.read() as session:
        return approvers_in(session, item)


def decision_approvers(db: Database, item: ReviewItem) -> list[str]:
    """Who approved the text that decided an approved item, in order (none otherwise)."""
    if item.status not in (Status.APPROVED, Status.EDITED):
        return []
    return approvers_of(db, item)


def enqueue_update(session: Session, item: ReviewItem, now: datetime) -> None:
    """Re-render the item's messages. A post still queued may already be on its way with
    the old state, so an update is queued behind it too (Slack rows of an item go in order)."""
    if item.message_ts is not None or _post_pending(session, item.id):
        outbox.enqueue(session, item_id=item.id, kind=OutboxKind.UPDATE_ITEM, now=now)


def decide(
    db: Database,
    item_id: str,
    *,
    status: Status,
    by: str,
    source: str,
    now: datetime,
    final_output: str | dict[str, Any] | None = None,
    reason: str | None = None,
    note: str | None = None,
    may_decide: Callable[[ReviewItem], bool] = lambda _item: True,
    agent: str | None = None,
) -> DecideResult:
    """Move a pending item to a final status, once.

    The row is locked for the whole transaction (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE
    on SQLite), so of two people deciding at the same moment exactly one sees it pending;
    the other gets ALREADY_DECIDED with the winner's decision. `agent` restricts the item
    to the agent that submitted it.
    """
    with db.write() as session:
        item = session.get(ReviewItem, item_id, with_for_update=True)
        if item is None or (agent is not None and item.agent != agent):
            return DecideResult(Outcome.NOT_FOUND)
        if item.status != Status.PENDING:
            return DecideResult(Outcome.ALREADY_DECIDED, item, _decision_of(session, item_id))
        if not may_decide(item):
            return DecideResult(Outcome.FORBIDDEN, item)
        decision = record_decision(
            session,
            item,
            status=status,
            by=by,
            source=source,
            now=now,
            final_output=final_output,
            reason=reason,
            note=note,
        )
        if item.message_ts is not None or _post_pending(session, item_id):
            outbox.enqueue(session, item_id=item.id, kind=OutboxKind.UPDATE_ITEM, now=now)
        return DecideResult(Outcome.DECIDED, item, decision)


def record_decision(
    session: Session,
    item: ReviewItem,
    *,
    status: Status,
    by: str,
    source: str,
    now: datetime,
    final_output: str | dict[str, Any] | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> Decision:
    previous = item.status
    item.status = status
    item.decided_at = now
    item.deadline = None
    deadlines.cancel_pending(session, item.id)  # a decided item escalates no further
    if status in (Status.APPROVED, Status.AUTO_APPROVED):
        item.final_output = item.output
    elif status == Status.EDITED:
        item.final_output = final_output
    decision = Decision(
        item_id=item.id, status=status, by=by, source=source, reason=reason, note=note, at=now
    )
    session.add(decision)
    if item.callback_url:
        item.callback_status = CallbackStatus.PENDING
        outbox.enqueue(session, item_id=item.id, kind=OutboxKind.CALLBACK, now=now)
    session.add(item)
    audit.record(
        session,
        item_id=item.id,
        at=now,
        actor=by,
        source=source,
        action="decided",
        from_status=previous,
        to_status=status,
        reason=reason,
        note=note,
    )
    session.flush()
    return decision


def _post_pending(session: Session, item_id: str) -> bool:
    query = select(OutboxMessage.id).where(
        OutboxMessage.item_id == item_id,
        OutboxMessage.kind == OutboxKind.POST_ITEM,
        OutboxMessage.status == OutboxStatus.PENDING,
    )
    return session.exec(query).first() is not None


def _decision_of(session: Session, item_id: str) -> Decision | None:
    return session.exec(select(Decision).where(Decision.item_id == item_id)).first()


def get_item(db: Database, item_id: str) -> ReviewItem | None:
    with db.lookup() as session:
        return session.get(ReviewItem, item_id)


def get_decision(db: Database, item_id: str) -> Decision | None:
    with db.lookup() as session:
        return _decision_of(session, item_id)


def find_by_external_id(db: Database, agent: str, external_id: str) -> ReviewItem | None:
    with db.lookup() as session:
        query = select(ReviewItem).where(
            ReviewItem.agent == agent, ReviewItem.external_id == external_id
        )
        return session.exec(query).first()

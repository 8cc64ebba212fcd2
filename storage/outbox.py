"""The outbox: side effects recorded with the change that causes them, delivered later.

A row is claimed with a lease naming the worker; a process that dies mid-delivery stops
heartbeating and another worker claims the row again (or, without heartbeats, once the
lease runs out). Slack rows of one item are delivered in order (a message is posted
before it is updated); callbacks do not wait for Slack. Claims take channels in turn and
skip rows waiting on a Slack rate limit, so one channel's backlog holds back no other.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import Session, col, select
from ulid import ULID

from storage import workers
from storage.db import Database
from storage.models import OutboxKind, OutboxMessage, OutboxStatus, ReviewItem

# An item's rows of these kinds are delivered in order (posted before updated or replied to).
SLACK_KINDS = (
    OutboxKind.POST_ITEM,
    OutboxKind.POST_ESCALATION,
    OutboxKind.UPDATE_ITEM,
    OutboxKind.POST_THREAD,
)


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


@dataclass(frozen=True)
class Paused:
    """Where Slack asked us to wait: per method and channel, or a whole method."""

    post_channels: frozenset[str] = frozenset()  # chat.postMessage paused in these channels
    update_channels: frozenset[str] = frozenset()  # chat.update paused in these channels
    posts: bool = False  # chat.postMessage paused everywhere
    updates: bool = False  # chat.update paused everywhere


POST_KINDS = (
    OutboxKind.POST_ITEM,
    OutboxKind.POST_ESCALATION,
    OutboxKind.POST_DIGEST,
    OutboxKind.POST_THREAD,
)


def claim_due(
    db: Database,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    kinds: Sequence[OutboxKind] | None = None,
    worker_id: str | None = None,
    dead_before: datetime | None = None,
    paused: Paused = Paused(),
    per_channel: int | None = None,
    groups: Sequence[tuple[Sequence[OutboxKind], int]] | None = None,
) -> list[OutboxMessage]:
    """Take up to `limit` due rows of `kinds` for this worker until `now + lease`.

    With `groups` (kinds and a limit each: one per slot pool) one claim serves every
    group: at most its limit of rows of each group's kinds; `limit` and `kinds` are then
    the sums of the groups.

    Rows waiting on a rate limit in `paused` are left alone, so they take no slot; with
    `per_channel` at most that many rows of one channel are taken, oldest first, so one
    channel's backlog cannot fill every slot. A lease whose holder stopped heartbeating
    (last beat before `dead_before`) counts as free.
    """
    # Slack rows of one item go in order: only each item's first pending Slack row is
    # eligible (one aggregate over the pending rows, not a probe per row).
    first_slack_row_of_item = (
        select(func.min(OutboxMessage.id))
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            col(OutboxMessage.kind).in_(SLACK_KINDS),
        )
        .group_by(col(OutboxMessage.item_id))
    )
    if groups is not None:
        groups = [(group_kinds, size) for group_kinds, size in groups if size > 0]
        kinds = [kind for group_kinds, _size in groups for kind in group_kinds]
        limit = sum(size for _kinds, size in groups)
    if limit <= 0:
        return []
    channel = ReviewItem.channel
    conditions = [
        OutboxMessage.status == OutboxStatus.PENDING,
        col(OutboxMessage.due_at) <= now,
        workers.lease_is_free(
            col(OutboxMessage.lease_until),
            col(OutboxMessage.worker_id),
            now=now,
            dead_before=dead_before,
            me=worker_id,
        ),
    ]
    if kinds is not None:
        conditions.append(col(OutboxMessage.kind).in_(list(kinds)))
    # Checked again on the locked rows: PostgreSQL re-reads a row changed by a claim that
    # committed meanwhile and re-tests these, so two claimers never both take it.
    row_conditions = list(conditions)
    conditions.append(
        or_(
            col(OutboxMessage.kind).not_in(SLACK_KINDS),
            col(OutboxMessage.id).in_(first_slack_row_of_item),
        )
    )
    if paused.posts:
        conditions.append(col(OutboxMessage.kind).not_in(POST_KINDS))
    elif paused.post_channels:
        conditions.append(
            ~(
                col(OutboxMessage.kind).in_((OutboxKind.POST_ITEM, OutboxKind.POST_THREAD))
                & col(channel).in_(sorted(paused.post_channels))
            )
        )
    if paused.updates:
        conditions.append(col(OutboxMessage.kind) != OutboxKind.UPDATE_ITEM)
    elif paused.update_channels:
        conditions.append(
            ~(
                (col(OutboxMessage.kind) == OutboxKind.UPDATE_ITEM)
                & col(channel).in_(sorted(paused.update_channels))
            )
        )
    # Round robin across channels: number each channel's due rows, take the first of
    # every channel before the second of any.
    turn = (
        func.row_number()
        .over(partition_by=func.coalesce(channel, ""), order_by=col(OutboxMessage.id))
        .label("turn")
    )
    group_of = (
        case(
            *(
                (col(OutboxMessage.kind).in_(list(group_kinds)), index)
                for index, (group_kinds, _size) in enumerate(groups)
            ),
            else_=-1,
        )
        if groups is not None and len(groups) > 1
        else None
    )
    candidates = (
        select(
            col(OutboxMessage.id).label("id"),
            turn,
            *([group_of.label("grp")] if group_of is not None else []),
        )
        .select_from(OutboxMessage)
        .outerjoin(ReviewItem, col(ReviewItem.id) == col(OutboxMessage.item_id))
        .where(*conditions)
        .subquery()
    )
    if group_of is not None and groups is not None:
        # Each group's rows in the same order as below, numbered: a group takes its first
        # `size` rows and no more.
        ranked = (
            select(
                candidates.c.id,
                candidates.c.turn,
                candidates.c.grp,
                func.row_number()
                .over(
                    partition_by=candidates.c.grp,
                    order_by=(candidates.c.turn, candidates.c.id),
                )
                .label("rank"),
            )
            .where(*([candidates.c.turn <= per_channel] if per_channel is not None else []))
            .subquery()
        )
        chosen = (
            select(ranked.c.id)
            .where(
                or_(
                    *(
                        and_(ranked.c.grp == index, ranked.c.rank <= size)
                        for index, (_kinds, size) in enumerate(groups)
                    )
                )
            )
            .order_by(ranked.c.turn, ranked.c.id)
            .limit(limit)
        )
    else:
        chosen = select(candidates.c.id)
        if per_channel is not None:
            chosen = chosen.where(candidates.c.turn <= per_channel)
        chosen = chosen.order_by(candidates.c.turn, candidates.c.id).limit(limit)
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(chosen.scalar_subquery()), *row_conditions)
        .order_by(col(OutboxMessage.id))
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    with db.write() as session:
        rows = list(session.exec(query))
        for row in rows:
            row.lease_until = now + lease
            row.worker_id = worker_id
            row.attempts += 1
        session.flush()
        return rows


def release(db: Database, row_ids: Sequence[int]) -> None:
    """Hands claimed rows back undelivered (shutdown): another worker may take them now."""
    if not row_ids:
        return
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(list(row_ids)))
            .values(lease_until=None, worker_id=None)
        )


def release_held_by(db: Database, worker_id: str, *, keep: Sequence[int]) -> int:
    """Frees rows leased to `worker_id` except `keep` (those really in flight): a claim
    whose commit reached the database but whose answer was lost leaves such rows."""
    with db.write() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.worker_id) == worker_id,
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.id).not_in(list(keep)),
            )
            .values(lease_until=None, worker_id=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def oldest_pending_created_at(db: Database) -> datetime | None:
    with db.read() as session:
        query = select(func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING
        )
        return session.exec(query).one()


def complete(db: Database, row_id: int, *, now: datetime) -> None:
    _finish(db, row_id, status=OutboxStatus.DONE, now=now, error=None)


def complete_in(session: Session, row_id: int, *, now: datetime) -> None:
    """`complete` inside the caller's transaction (with the change the delivery made)."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id)
        .values(
            status=OutboxStatus.DONE, done_at=now, lease_until=None, worker_id=None, last_error=None
        )
    )


def give_up(db: Database, row_id: int, *, now: datetime, error: str) -> None:
    _finish(db, row_id, status=OutboxStatus.FAILED, now=now, error=error)


def _finish(
    db: Database, row_id: int, *, status: OutboxStatus, now: datetime, error: str | None
) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(and_(col(OutboxMessage.id) == row_id))
            .values(status=status, done_at=now, lease_until=None, worker_id=None, last_error=error)
        )


def retry_at(db: Database, row_id: int, *, due_at: datetime, error: str) -> None:
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id)
            .values(due_at=due_at, lease_until=None, worker_id=None, last_error=error)
        )


def rows_for_item(db: Database, item_id: str) -> list[OutboxMessage]:
    with db.read() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.item_id == item_id)
            .order_by(col(OutboxMessage.id))
        )
        return list(session.exec(query))

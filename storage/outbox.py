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

from sqlalchemy import (
    String,
    and_,
    bindparam,
    func,
    insert,
    update,
)
from sqlmodel import Session, col, select
from ulid import ULID

from storage.db import Database
from storage.models import OutboxKind, OutboxMessage, OutboxStatus, table_of
from storage.outbox_claim import ClaimShape, claim_query
from storage.types import UTCDateTime

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


def enqueue_written(session: Session, *, item_id: str, kind: OutboxKind, now: datetime) -> None:
    """`enqueue`, written at once by one Core statement: no object, no unit of work (the
    submission's hot path). The item's row must be written already."""
    session.connection().execute(
        _insert_row,
        {
            "delivery_id": f"msg_{ULID()}",
            "item_id": item_id,
            "kind": kind,
            "payload": {},
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "due_at": now,
        },
    )


_insert_row = insert(table_of(OutboxMessage))


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
    if groups is not None:
        groups = [(group_kinds, size) for group_kinds, size in groups if size > 0]
        kinds = [kind for group_kinds, _size in groups for kind in group_kinds]
        limit = sum(size for _kinds, size in groups)
    if limit <= 0:
        return []
    shape = ClaimShape(
        in_order=SLACK_KINDS,
        posts=POST_KINDS,
        groups=tuple(tuple(group_kinds) for group_kinds, _size in groups)
        if groups is not None
        else None,
        kinds=tuple(kinds) if kinds is not None else None,
        dead_before=dead_before is not None,
        me=worker_id is not None,
        all_posts=paused.posts,
        post_channels=not paused.posts and bool(paused.post_channels),
        all_updates=paused.updates,
        update_channels=not paused.updates and bool(paused.update_channels),
        per_channel=per_channel is not None,
    )
    params: dict[str, Any] = {"claim_now": now, "claim_limit": limit}
    if dead_before is not None:
        params["claim_dead_before"] = dead_before
    if worker_id is not None:
        params["claim_me"] = worker_id
    if shape.post_channels:
        params["claim_post_channels"] = sorted(paused.post_channels)
    if shape.update_channels:
        params["claim_update_channels"] = sorted(paused.update_channels)
    if per_channel is not None:
        params["claim_per_channel"] = per_channel
    for index, (_kinds, size) in enumerate(groups or ()):
        params[f"claim_size_{index}"] = size
    until = now + lease
    with db.write() as session:
        rows = list(session.exec(claim_query(shape), params=params))
        if rows:
            # Core, not the unit of work: one statement for every row claimed.
            session.connection().execute(
                _take_lease,
                {"take_ids": [row.id for row in rows], "take_until": until, "take_me": worker_id},
            )
    for row in rows:  # what the statement wrote, on the (now detached) rows
        row.lease_until = until
        row.worker_id = worker_id
        row.attempts += 1
    return rows


_take_lease = (
    update(table_of(OutboxMessage))
    .where(col(OutboxMessage.id).in_(bindparam("take_ids", expanding=True)))
    .values(
        lease_until=bindparam("take_until", type_=UTCDateTime),
        worker_id=bindparam("take_me", type_=String),
        attempts=col(OutboxMessage.attempts) + 1,
    )
)


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
    session.connection().execute(complete_row, {"row_id": row_id, "done_at": now})


# Binds `row_id` and `done_at` (storage.delivered runs it with the item's post, as one).
complete_row = (
    update(table_of(OutboxMessage))
    .where(col(OutboxMessage.id) == bindparam("row_id"))
    .values(
        status=OutboxStatus.DONE,
        done_at=bindparam("done_at", type_=UTCDateTime),
        lease_until=None,
        worker_id=None,
        last_error=None,
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

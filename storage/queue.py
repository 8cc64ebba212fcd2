"""The reviewer's queue in storage: who is on an item, the discussion in its thread, and
what waits for a person. Each command is one transaction with its audit row and outbox
rows; who may do what is decided by the caller (`commands.queue`). Whose App Home is kept
up to date lives in storage.home_viewers (its functions are also importable from here)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, nulls_last
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage import audit, outbox
from storage.db import Database
from storage.home_viewers import (  # the Home's rows, where callers have long found them
    has_home_viewers,
    home_viewers,
    queue_home_publish,
    record_home_opened,
    set_home_page,
    start_home_publish,
)
from storage.models import (
    Decision,
    ItemComment,
    ItemMessage,
    OutboxKind,
    ReviewItem,
    Status,
)
from storage.reviews import enqueue_update

__all__ = [
    "has_home_viewers",
    "home_viewers",
    "queue_home_publish",
    "record_home_opened",
    "set_home_page",
    "start_home_publish",
]

# --- take and hand over --------------------------------------------------------------


class TakeOutcome(StrEnum):
    TAKEN = "taken"
    HANDED_OVER = "handed_over"
    NOT_FOUND = "not_found"
    ALREADY_DECIDED = "already_decided"
    FORBIDDEN = "forbidden"  # the person acting may not decide the item
    TARGET_FORBIDDEN = "target_forbidden"  # the person handed to may not decide it
    ALREADY_TAKEN = "already_taken"  # someone (maybe the same person) is on it already


@dataclass(frozen=True)
class TakeResult:
    outcome: TakeOutcome
    item: ReviewItem | None = None
    previous: str | None = None  # who was on it before a hand-over


def take(
    db: Database,
    item_id: str,
    *,
    by: str,
    now: datetime,
    may_decide: Callable[[ReviewItem, str], bool],
) -> TakeResult:
    """`by` is on the item from now on; refused when someone already is."""
    with db.write() as session:
        item = session.get(ReviewItem, item_id, with_for_update=True)
        refusal = _refusal(item, by, may_decide)
        if refusal is not None:
            return refusal
        assert item is not None
        if item.taken_by is not None:
            return TakeResult(TakeOutcome.ALREADY_TAKEN, item)
        item.taken_by, item.taken_at = by, now
        session.add(item)
        audit.record(session, item_id=item_id, at=now, actor=by, source="slack", action="taken")
        enqueue_update(session, item, now)
        return TakeResult(TakeOutcome.TAKEN, item)


def hand_over(
    db: Database,
    item_id: str,
    *,
    by: str,
    to: str,
    now: datetime,
    may_decide: Callable[[ReviewItem, str], bool],
) -> TakeResult:
    """`to` is on the item from now on and gets it by DM; both must be allowed to decide."""
    with db.write() as session:
        item = session.get(ReviewItem, item_id, with_for_update=True)
        refusal = _refusal(item, by, may_decide)
        if refusal is not None:
            return refusal
        assert item is not None
        if not may_decide(item, to):
            return TakeResult(TakeOutcome.TARGET_FORBIDDEN, item)
        if item.taken_by == to:
            return TakeResult(TakeOutcome.ALREADY_TAKEN, item)
        previous = item.taken_by
        item.taken_by, item.taken_at = to, now
        session.add(item)
        audit.record(
            session,
            item_id=item_id,
            at=now,
            actor=by,
            source="slack",
            action="handed_over",
            to=to,
            previous=previous,
        )
        enqueue_update(session, item, now)
        outbox.enqueue(
            session,
            item_id=item_id,
            kind=OutboxKind.POST_HANDOVER,
            now=now,
            payload={"to": to, "by": by},
        )
        return TakeResult(TakeOutcome.HANDED_OVER, item, previous)


def _refusal(
    item: ReviewItem | None, by: str, may_decide: Callable[[ReviewItem, str], bool]
) -> TakeResult | None:
    if item is None:
        return TakeResult(TakeOutcome.NOT_FOUND)
    if item.status != Status.PENDING:
        return TakeResult(TakeOutcome.ALREADY_DECIDED, item)
    if not may_decide(item, by):
        return TakeResult(TakeOutcome.FORBIDDEN, item)
    return None


# --- comments ------------------------------------------------------------------------


def item_of_thread(db: Database, channel: str, thread_ts: str) -> str | None:
    """The item whose message (original or escalation) starts this thread, if any."""
    with db.read() as session:
        original = select(ReviewItem.id).where(
            ReviewItem.channel == channel, ReviewItem.message_ts == thread_ts
        )
        found = session.exec(original).first()
        if found is not None:
            return found
        escalation = select(ItemMessage.item_id).where(
            ItemMessage.channel == channel, ItemMessage.ts == thread_ts
        )
        return session.exec(escalation).first()


def add_comment(
    db: Database, item_id: str, *, user: str, channel: str, ts: str, text: str, at: datetime
) -> ItemComment | None:
    """Records a reply once (Slack may deliver an event twice); None when already known."""
    try:
        return _add_comment(db, item_id, user=user, channel=channel, ts=ts, text=text, at=at)
    except IntegrityError:  # the same event, handled at the same moment elsewhere
        return None


def _add_comment(
    db: Database, item_id: str, *, user: str, channel: str, ts: str, text: str, at: datetime
) -> ItemComment | None:
    with db.write() as session:
        known = _comment(session, channel, ts)
        if known is not None:
            return None
        comment = ItemComment(
            item_id=item_id, user_id=user, channel=channel, ts=ts, text=text, at=at
        )
        session.add(comment)
        audit.record(
            session, item_id=item_id, at=at, actor=user, source="slack", action="commented",
            ts=ts, text=text,
        )  # fmt: skip
        session.flush()
        return comment


def edit_comment(
    db: Database, channel: str, ts: str, *, text: str, at: datetime
) -> ItemComment | None:
    with db.write() as session:
        comment = _comment(session, channel, ts)
        if comment is None or comment.deleted_at is not None or comment.text == text:
            return None
        comment.text, comment.edited_at = text, at
        session.add(comment)
        audit.record(
            session, item_id=comment.item_id, at=at, actor=comment.user_id, source="slack",
            action="comment_edited", ts=ts, text=text,
        )  # fmt: skip
        return comment


def delete_comment(db: Database, channel: str, ts: str, *, at: datetime) -> ItemComment | None:
    """Marks the comment deleted: it leaves the API, the audit trail keeps that it was."""
    with db.write() as session:
        comment = _comment(session, channel, ts)
        if comment is None or comment.deleted_at is not None:
            return None
        comment.deleted_at = at
        session.add(comment)
        audit.record(
            session, item_id=comment.item_id, at=at, actor=comment.user_id, source="slack",
            action="comment_deleted", ts=ts,
        )  # fmt: skip
        return comment


def _comment(session: Session, channel: str, ts: str) -> ItemComment | None:
    query = select(ItemComment).where(ItemComment.channel == channel, ItemComment.ts == ts)
    return session.exec(query).first()


def comments_of(db: Database, item_id: str) -> list[ItemComment]:
    """The item's comments that were not deleted, oldest first."""
    with db.read() as session:
        query = (
            select(ItemComment)
            .where(ItemComment.item_id == item_id, col(ItemComment.deleted_at).is_(None))
            .order_by(col(ItemComment.at), col(ItemComment.id))
        )
        return list(session.exec(query))


# --- what a person's queue holds -----------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    """What deciding who may see an undecided item needs, without its full row."""

    id: str
    route: str
    rules_version: str
    escalations: list[dict[str, Any]]


def pending_entries(db: Database) -> list[QueueEntry]:
    """Every undecided item, the nearest deadline first (none last), then the oldest."""
    with db.read() as session:
        query = (
            select(
                ReviewItem.id, ReviewItem.route, ReviewItem.rules_version, ReviewItem.escalations
            )
            .where(ReviewItem.status == Status.PENDING)
            .order_by(
                nulls_last(col(ReviewItem.deadline).asc()),
                col(ReviewItem.created_at),
                col(ReviewItem.id),
            )
        )
        return [
            QueueEntry(item_id, route, version, list(escalations or []))
            for item_id, route, version, escalations in session.exec(query)
        ]


def route_snapshot(db: Database, route: str, rules_version: str) -> dict[str, Any] | None:
    """The route frozen on items of this route and rules version (the same for all)."""
    with db.read() as session:
        query = (
            select(ReviewItem.route_snapshot)
            .where(ReviewItem.route == route, ReviewItem.rules_version == rules_version)
            .limit(1)
        )
        found = session.exec(query).first()
        return dict(found) if found is not None else None


def items_by_id(db: Database, ids: Sequence[str]) -> list[ReviewItem]:
    """The items, in the order of `ids`."""
    if not ids:
        return []
    with db.read() as session:
        found = {
            item.id: item
            for item in session.exec(select(ReviewItem).where(col(ReviewItem.id).in_(list(ids))))
        }
    return [found[item_id] for item_id in ids if item_id in found]


def taken_by(db: Database, user: str) -> list[ReviewItem]:
    with db.read() as session:
        query = (
            select(ReviewItem)
            .where(ReviewItem.status == Status.PENDING, ReviewItem.taken_by == user)
            .order_by(col(ReviewItem.taken_at))
        )
        return list(session.exec(query))


def decided_by(
    db: Database, user: str, since: datetime, limit: int
) -> tuple[int, list[tuple[ReviewItem, Decision]]]:
    """How many items `user` decided since `since`, and the latest `limit` of them."""
    with db.read() as session:
        mine = (Decision.by == user, Decision.source == "slack", col(Decision.at) >= since)
        count = session.exec(select(func.count()).select_from(Decision).where(*mine)).one()
        query = (
            select(ReviewItem, Decision)
            .join(Decision, col(Decision.item_id) == col(ReviewItem.id))
            .where(*mine)
            .order_by(col(Decision.at).desc())
            .limit(limit)
        )
        return int(count), [(item, decision) for item, decision in session.exec(query)]

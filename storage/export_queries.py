"""The record of items for `hitl export`, read in keyset pages so memory stays flat.

Items come in (created_at, id) order, one page at a time; each page's decisions,
approvals, comments and audit trail are read with one query per table for the page's
ids. A page is a short read transaction of its own, so a long export never holds a
snapshot (or a lock on SQLite) for its whole run.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from rules.replay import ReplayRow
from storage.db import Database
from storage.models import Approval, AuditEvent, Decision, ItemComment, ReviewItem

PAGE = 1000


@dataclass
class ItemRecord:
    """One item and everything recorded about it."""

    item: ReviewItem
    decision: Decision | None = None
    approvals: list[Approval] = field(default_factory=list)
    comments: list[ItemComment] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)


def item_records(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    workflow: str | None = None,
    page: int = PAGE,
) -> Iterator[ItemRecord]:
    """Every item created in [since, until) (of `workflow`, if given), oldest first."""
    after: tuple[datetime, str] | None = None
    while True:
        with db.read() as session:
            items = _page(session, since, until, workflow, after, page)
            if not items:
                return
            records = _with_details(session, items)
            # Detach what was read: the records outlive the session.
            session.expunge_all()
        yield from records
        last = items[-1]
        after = (last.created_at, last.id)
        if len(items) < page:
            return


def _page(
    session: Session,
    since: datetime | None,
    until: datetime | None,
    workflow: str | None,
    after: tuple[datetime, str] | None,
    size: int,
) -> list[ReviewItem]:
    query = select(ReviewItem)
    if since is not None:
        query = query.where(col(ReviewItem.created_at) >= since)
    if until is not None:
        query = query.where(col(ReviewItem.created_at) < until)
    if workflow is not None:
        query = query.where(col(ReviewItem.workflow) == workflow)
    if after is not None:
        created, item_id = after
        query = query.where(
            or_(
                col(ReviewItem.created_at) > created,
                and_(col(ReviewItem.created_at) == created, col(ReviewItem.id) > item_id),
            )
        )
    query = query.order_by(col(ReviewItem.created_at), col(ReviewItem.id)).limit(size)
    return list(session.exec(query))


def _with_details(session: Session, items: list[ReviewItem]) -> list[ItemRecord]:
    ids = [item.id for item in items]
    records = {item.id: ItemRecord(item) for item in items}
    for decision in session.exec(select(Decision).where(col(Decision.item_id).in_(ids))):
        records[decision.item_id].decision = decision
    for approval in session.exec(
        select(Approval).where(col(Approval.item_id).in_(ids)).order_by(col(Approval.id))
    ):
        records[approval.item_id].approvals.append(approval)
    for comment in session.exec(
        select(ItemComment).where(col(ItemComment.item_id).in_(ids)).order_by(col(ItemComment.id))
    ):
        records[comment.item_id].comments.append(comment)
    for event in session.exec(
        select(AuditEvent).where(col(AuditEvent.item_id).in_(ids)).order_by(col(AuditEvent.id))
    ):
        records[event.item_id].audit.append(event)
    return [records[item_id] for item_id in ids]


def replay_rows(
    db: Database, since: datetime, until: datetime, *, batch: int = 5000
) -> Iterator[ReplayRow]:
    """The items created in [since, until), a few columns each, streamed from one query
    (a server-side cursor on PostgreSQL, SQLite's own stepping), `batch` rows at a time."""
    query = (
        select_columns(
            *(
                col(column)
                for column in (
                    ReviewItem.workflow,
                    ReviewItem.agent,
                    ReviewItem.confidence,
                    ReviewItem.created_at,
                    ReviewItem.route,
                    ReviewItem.status,
                    ReviewItem.escalation_level,
                    ReviewItem.decided_at,
                )
            )
        )
        .where(col(ReviewItem.created_at) >= since, col(ReviewItem.created_at) < until)
        .execution_options(yield_per=batch)
    )
    with db.read() as session:
        for row in session.execute(query):
            yield ReplayRow(
                workflow=row.workflow,
                agent=row.agent,
                confidence=row.confidence,
                created_at=row.created_at,
                route=row.route,
                status=str(row.status),
                escalation_level=row.escalation_level,
                decided_at=row.decided_at,
            )

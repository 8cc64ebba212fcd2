"""The digest's questions to the database, answered by SQL aggregation.

Each function returns plain rows; none loads a period's items into memory (edited items
are streamed, see `edited_items`). Percentiles use percentile_cont on PostgreSQL and an
ORDER BY … OFFSET probe on SQLite, which has no percentile function.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from storage.db import Database
from storage.models import Decision, ReviewItem, SpotCheck, Status

HUMAN = (Status.APPROVED, Status.EDITED, Status.REJECTED)


@dataclass(frozen=True)
class GroupCounts:
    key: str
    volume: int
    approved: int
    edited: int
    rejected: int
    expired: int
    cancelled: int
    auto_approved: int
    pending: int
    escalated_items: int
    escalation_steps: int
    waited_past_first_deadline: int
    waiting_hours: float  # creation to decision, summed over human decisions
    escalated_waiting_hours: float  # the same, over the items that were escalated


def _seconds(later: ColumnElement, earlier: ColumnElement, db: Database) -> ColumnElement:
    if db.is_sqlite:
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _count(condition: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(since: datetime, until: datetime) -> ColumnElement:
    return and_(ReviewItem.created_at >= since, ReviewItem.created_at < until)


def group_counts(db: Database, since: datetime, until: datetime, by: str) -> list[GroupCounts]:
    """Per route or per workflow (`by`), items created in [since, until)."""
    key = getattr(ReviewItem, by)
    status = ReviewItem.status
    wait = _seconds(ReviewItem.decided_at, ReviewItem.created_at, db)
    past_first = and_(
        ReviewItem.first_deadline.is_not(None),
        or_(
            ReviewItem.decided_at > ReviewItem.first_deadline,
            and_(ReviewItem.decided_at.is_(None), ReviewItem.first_deadline < until),
        ),
    )
    query = (
        select(
            key,
            func.count(),
            *(
                _count(status == s)
                for s in (
                    Status.APPROVED,
                    Status.EDITED,
                    Status.REJECTED,
                    Status.EXPIRED,
                    Status.CANCELLED,
                    Status.AUTO_APPROVED,
                    Status.PENDING,
                )
            ),
            _count(ReviewItem.escalation_level > 0),
            func.coalesce(func.sum(ReviewItem.escalation_level), 0),
            _count(past_first),
            func.coalesce(func.sum(case((status.in_(HUMAN), wait), else_=0.0)), 0.0),
            func.coalesce(
                func.sum(
                    case(
                        (and_(status.in_(HUMAN), ReviewItem.escalation_level > 0), wait), else_=0.0
                    )
                ),
                0.0,
            ),
        )
        .where(_in_period(since, until))
        .group_by(key)
        .order_by(key)
    )
    with db.read() as session:
        rows = session.execute(query).all()
    return [
        GroupCounts(
            str(row[0]),
            *(int(value) for value in row[1:12]),
            float(row[12]) / 3600,
            float(row[13]) / 3600,
        )
        for row in rows
    ]


def decision_minutes(
    db: Database, since: datetime, until: datetime, by: str, shares: tuple[float, ...]
) -> dict[str, list[float | None]]:
    """Percentiles of creation-to-decision minutes of human decisions, per group."""
    key = getattr(ReviewItem, by)
    minutes = _seconds(ReviewItem.decided_at, ReviewItem.created_at, db) / 60.0
    human = and_(_in_period(since, until), ReviewItem.status.in_(HUMAN))
    with db.read() as session:
        if not db.is_sqlite:
            columns = [func.percentile_cont(share).within_group(minutes.asc()) for share in shares]
            rows = session.execute(select(key, *columns).where(human).group_by(key)).all()
            return {str(row[0]): [None if v is None else float(v) for v in row[1:]] for row in rows}
        counts = session.execute(select(key, func.count()).where(human).group_by(key)).all()
        result: dict[str, list[float | None]] = {}
        for group, count in counts:
            values: list[float | None] = []
            for share in shares:
                # Linear interpolation between the two ranks around share * (n - 1).
                position = share * (count - 1)
                lower = int(position)
                probe = (
                    select(minutes)
                    .where(human, key == group)
                    .order_by(minutes)
                    .offset(lower)
                    .limit(2)
                )
                pair = [float(v) for v in session.execute(probe).scalars()]
                if not pair:
                    values.append(None)
                elif len(pair) == 1:
                    values.append(pair[0])
                else:
                    values.append(pair[0] + (pair[1] - pair[0]) * (position - lower))
            result[str(group)] = values
        return result


@dataclass(frozen=True)
class ReasonCount:
    route: str
    reason: str
    count: int
    waiting_hours: float


def rejection_reasons(db: Database, since: datetime, until: datetime) -> list[ReasonCount]:
    reason = func.coalesce(Decision.reason, literal("unspecified"))
    wait = _seconds(ReviewItem.decided_at, ReviewItem.created_at, db)
    query = (
        select(ReviewItem.route, reason, func.count(), func.coalesce(func.sum(wait), 0.0))
        .join(Decision, Decision.item_id == ReviewItem.id)
        .where(_in_period(since, until), ReviewItem.status == Status.REJECTED)
        .group_by(ReviewItem.route, reason)
    )
    with db.read() as session:
        rows = session.execute(query).all()
    return [ReasonCount(r[0], r[1], int(r[2]), float(r[3]) / 3600) for r in rows]


@dataclass(frozen=True)
class Example:
    item_id: str
    title: str
    note: str | None
    channel: str
    message_ts: str | None


def rejection_examples(
    db: Database, since: datetime, until: datetime, route: str, reason: str, limit: int = 3
) -> list[Example]:
    """Recent rejections of one reason, those with a note first."""
    reason_match = (
        Decision.reason.is_(None) if reason == "unspecified" else Decision.reason == reason
    )
    query = (
        select(
            ReviewItem.id,
            ReviewItem.title,
            Decision.note,
            ReviewItem.channel,
            ReviewItem.message_ts,
        )
        .join(Decision, Decision.item_id == ReviewItem.id)
        .where(
            _in_period(since, until),
            ReviewItem.status == Status.REJECTED,
            ReviewItem.route == route,
            reason_match,
        )
        .order_by(Decision.note.is_(None), Decision.at.desc())
        .limit(limit)
    )
    with db.read() as session:
        return [Example(*row) for row in session.execute(query).all()]


def item_examples(db: Database, item_ids: list[str]) -> list[Example]:
    if not item_ids:
        return []
    query = select(
        ReviewItem.id, ReviewItem.title, literal(None), ReviewItem.channel, ReviewItem.message_ts
    ).where(ReviewItem.id.in_(item_ids))
    with db.read() as session:
        found = {row[0]: Example(*row) for row in session.execute(query).all()}
    return [found[item_id] for item_id in item_ids if item_id in found]


@dataclass(frozen=True)
class EditedItem:
    workflow: str
    item_id: str
    output: str
    final_output: str


def edited_items(db: Database, since: datetime, until: datetime) -> Iterator[EditedItem]:
    """Streams edited items workflow by workflow, a few hundred rows in memory at a time."""
    query = (
        select(ReviewItem.workflow, ReviewItem.id, ReviewItem.output, ReviewItem.final_output)
        .where(
            _in_period(since, until),
            ReviewItem.status == Status.EDITED,
            ReviewItem.final_output.is_not(None),
        )
        .order_by(ReviewItem.workflow, ReviewItem.created_at)
        .execution_options(yield_per=500)
    )
    with db.read() as session:
        for row in session.execute(query):
            yield EditedItem(row[0], row[1], row[2], row[3])


@dataclass(frozen=True)
class ReviewerWait:
    user: str
    decided: int
    average_minutes: float
    longest_minutes: float


def reviewer_waits(db: Database, since: datetime, until: datetime) -> list[ReviewerWait]:
    """Who decided, and how long items had waited by the time they did."""
    minutes = _seconds(Decision.at, ReviewItem.created_at, db) / 60.0
    query = (
        select(Decision.by, func.count(), func.avg(minutes), func.max(minutes))
        .join(ReviewItem, Decision.item_id == ReviewItem.id)
        .where(_in_period(since, until), Decision.source == "slack")
        .group_by(Decision.by)
    )
    with db.read() as session:
        rows = session.execute(query).all()
    return [ReviewerWait(r[0], int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in rows]


@dataclass(frozen=True)
class EscalationDecider:
    route: str
    user: str
    decided: int


def escalation_deciders(db: Database, since: datetime, until: datetime) -> list[EscalationDecider]:
    """Who decided the items that were escalated, per route."""
    query = (
        select(ReviewItem.route, Decision.by, func.count())
        .join(Decision, Decision.item_id == ReviewItem.id)
        .where(
            _in_period(since, until), ReviewItem.escalation_level > 0, Decision.source == "slack"
        )
        .group_by(ReviewItem.route, Decision.by)
    )
    with db.read() as session:
        return [EscalationDecider(r[0], r[1], int(r[2])) for r in session.execute(query).all()]


@dataclass(frozen=True)
class BandCount:
    route: str
    band: int  # confidence band index: floor(confidence * bands)
    n: int
    unchanged: int
    contradicted: int  # rejected or edited


def confidence_bands(
    db: Database, since: datetime, until: datetime, bands: int = 20
) -> list[BandCount]:
    """Human decisions per route and confidence band (0.05 wide by default)."""
    band = cast(func.floor(cast(ReviewItem.confidence, Float) * bands), Integer)
    band = case((band >= bands, bands - 1), else_=band)
    query = (
        select(
            ReviewItem.route,
            band,
            func.count(),
            _count(ReviewItem.status == Status.APPROVED),
            _count(ReviewItem.status.in_((Status.REJECTED, Status.EDITED))),
        )
        .where(_in_period(since, until), ReviewItem.status.in_(HUMAN))
        .group_by(ReviewItem.route, band)
    )
    with db.read() as session:
        rows = session.execute(query).all()
    return [BandCount(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


@dataclass(frozen=True)
class SpotChecks:
    route: str
    checked: int
    wrong: int


def spot_checks(db: Database, since: datetime, until: datetime) -> list[SpotChecks]:
    query = (
        select(
            ReviewItem.route,
            func.count(func.distinct(SpotCheck.item_id)),
            func.count(func.distinct(case((SpotCheck.verdict == "wrong", SpotCheck.item_id)))),
        )
        .join(SpotCheck, SpotCheck.item_id == ReviewItem.id)
        .where(_in_period(since, until))
        .group_by(ReviewItem.route)
    )
    with db.read() as session:
        return [SpotChecks(r[0], int(r[1]), int(r[2])) for r in session.execute(query).all()]


def any_item_before(db: Database, moment: datetime) -> bool:
    query = select(ReviewItem.id).where(ReviewItem.created_at < moment).limit(1)
    with db.read() as session:
        return session.execute(query).first() is not None

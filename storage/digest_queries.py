"""The digest's questions to the database, answered by SQL aggregation.

A digest compares a period with the one before it, so the figures are read for both in one
pass over [previous_since, until), each row marked current or not. No function loads a
period's items into memory (edited items are streamed, see `edited_items`). The scans are
answered from the covering index ix_review_item_digest (status, created_at, …; migration
0006) alone, so every scan names the statuses it reads, even when that is all of them.

Percentiles of the waits are in storage.digest_percentiles, what the decisions of a
period's items say in storage.digest_decisions.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy import (
    Float,
    Integer,
    SQLColumnExpression,
    and_,
    case,
    cast,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col

from storage.db import Database
from storage.models import Decision, DriftAlert, ReviewItem, SpotCheck, Status

HUMAN = (Status.APPROVED, Status.EDITED, Status.REJECTED)
EVERY_STATUS = tuple(Status)
GROUPINGS = ("route", "workflow")


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


# Per period: {"route": {name: counts}, "workflow": {name: counts}}.
Grouped = dict[str, dict[str, GroupCounts]]


@dataclass(frozen=True)
class TwoPeriods:
    """[previous_since, since) is the previous period, [since, until) the current one."""

    previous_since: datetime
    since: datetime
    until: datetime

    def rows(self, statuses: tuple[Status, ...]) -> ColumnElement[bool]:
        return _in_period(self.previous_since, self.until, statuses)

    def is_current(self) -> ColumnElement[bool]:
        return col(ReviewItem.created_at) >= self.since


@contextmanager
def read(db: Database) -> Iterator[Session]:
    """db.read(), tuned on PostgreSQL for the digest's large reads, in this transaction
    only: sorts of a period's values stay in memory (the default 4 MB spills them to
    disk), and index probes are costed as what they are on cached indexes. With the
    default cost, which assumes spinning disks, the planner reads the whole decision
    table to join a period's items rather than probe ix_decision_digest for each."""
    with db.read() as session:
        if db.is_postgres:
            session.execute(
                text(
                    "SELECT set_config('work_mem', '64MB', true),"
                    " set_config('random_page_cost', '1.1', true)"
                )
            )
        yield session


def seconds_between(
    later: SQLColumnExpression[datetime | None],
    earlier: SQLColumnExpression[datetime],
    db: Database,
) -> ColumnElement:
    if db.is_sqlite:
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _count(condition: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(since: datetime, until: datetime, statuses: tuple[Status, ...]) -> ColumnElement:
    return and_(
        col(ReviewItem.status).in_(statuses),
        col(ReviewItem.created_at) >= since,
        col(ReviewItem.created_at) < until,
    )


def group_counts(db: Database, periods: TwoPeriods) -> tuple[Grouped, Grouped]:
    """(current, previous) counts per route and per workflow, from one grouped scan.

    The scan groups by (period, route, workflow); routes and workflows are summed from it.
    """
    status = col(ReviewItem.status)
    route, workflow = col(ReviewItem.route), col(ReviewItem.workflow)
    escalation_level = col(ReviewItem.escalation_level)
    decided_at, first_deadline = col(ReviewItem.decided_at), col(ReviewItem.first_deadline)
    current = periods.is_current()
    wait = seconds_between(decided_at, col(ReviewItem.created_at), db)
    # "Waited past the first deadline" for undecided items is judged at the period's end.
    moment = inspect(ReviewItem).columns["first_deadline"].type
    period_end = case(
        (current, literal(periods.until, moment)), else_=literal(periods.since, moment)
    )
    past_first = and_(
        first_deadline.is_not(None),
        or_(
            decided_at > first_deadline,
            and_(decided_at.is_(None), first_deadline < period_end),
        ),
    )
    human = status.in_(HUMAN)
    query = (
        select(
            current,
            route,
            workflow,
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
            _count(escalation_level > 0),
            func.coalesce(func.sum(escalation_level), 0),
            _count(past_first),
            func.coalesce(func.sum(case((human, wait), else_=0.0)), 0.0),
            func.coalesce(
                func.sum(case((and_(human, escalation_level > 0), wait), else_=0.0)),
                0.0,
            ),
        )
        .where(periods.rows(EVERY_STATUS))
        .group_by(current, route, workflow)
    )
    with read(db) as session:
        rows = session.execute(query).all()
    result: tuple[Grouped, Grouped] = ({by: {} for by in GROUPINGS}, {by: {} for by in GROUPINGS})
    for row in rows:
        grouped = result[0 if row[0] else 1]
        ints = [int(value) for value in row[3:14]]
        seconds = [float(row[14]), float(row[15])]
        for by, key in zip(GROUPINGS, (str(row[1]), str(row[2])), strict=True):
            grouped[by][key] = _add(grouped[by].get(key), key, ints, seconds)
    return _hours(result[0]), _hours(result[1])


def _add(
    counts: GroupCounts | None, key: str, ints: list[int], seconds: list[float]
) -> GroupCounts:
    """Adds one (route, workflow) row to a group; the hours fields hold seconds until _hours."""
    if counts is None:
        return GroupCounts(key, *ints, *seconds)
    values = [getattr(counts, f.name) for f in fields(GroupCounts)[1:]]
    return GroupCounts(key, *(a + b for a, b in zip(values, [*ints, *seconds], strict=True)))


def _hours(grouped: Grouped) -> Grouped:
    return {
        by: {
            key: replace(
                c,
                waiting_hours=c.waiting_hours / 3600,
                escalated_waiting_hours=c.escalated_waiting_hours / 3600,
            )
            for key, c in groups.items()
        }
        for by, groups in grouped.items()
    }


UNSPECIFIED = "unspecified"  # rejected without a reason


@dataclass(frozen=True)
class Example:
    item_id: str
    title: str
    note: str | None
    channel: str
    message_ts: str | None


def rejection_examples(
    db: Database, since: datetime, until: datetime, limit: int = 3
) -> dict[tuple[str, str], list[Example]]:
    """Per (route, reason): recent rejections, those with a note first, from one pass."""
    rank = func.row_number().over(
        partition_by=(col(ReviewItem.route), col(Decision.reason)),
        order_by=(col(Decision.note).is_(None), col(Decision.at).desc(), col(ReviewItem.id)),
    )
    ranked = (
        select(
            col(ReviewItem.route),
            col(Decision.reason),
            col(ReviewItem.id),
            col(ReviewItem.title),
            col(Decision.note),
            col(ReviewItem.channel),
            col(ReviewItem.message_ts),
            rank.label("rank"),
        )
        .join(Decision, col(Decision.item_id) == ReviewItem.id)
        .where(_in_period(since, until, (Status.REJECTED,)))
        .subquery()
    )
    query = select(*ranked.c).where(ranked.c.rank <= limit).order_by(ranked.c.rank)
    found: dict[tuple[str, str], list[Example]] = {}
    with read(db) as session:
        for route, reason, *example, _ in session.execute(query).all():
            # "unspecified" stands for no reason given, never for a reason of that name.
            if reason == UNSPECIFIED:
                continue
            found.setdefault((route, reason or UNSPECIFIED), []).append(Example(*example))
    return found


def item_examples(db: Database, item_ids: list[str]) -> list[Example]:
    if not item_ids:
        return []
    query = select(
        col(ReviewItem.id),
        col(ReviewItem.title),
        literal(None),
        col(ReviewItem.channel),
        col(ReviewItem.message_ts),
    ).where(col(ReviewItem.id).in_(item_ids))
    with read(db) as session:
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
        select(
            col(ReviewItem.workflow),
            col(ReviewItem.id),
            col(ReviewItem.output),
            col(ReviewItem.final_output),
        )
        .where(
            _in_period(since, until, (Status.EDITED,)),
            col(ReviewItem.final_output).is_not(None),
        )
        .order_by(col(ReviewItem.workflow), col(ReviewItem.created_at))
    )
    with read(db) as session:
        # On the Core connection: the ORM's row handling would cost more than the fetch.
        result = session.connection().execution_options(yield_per=500).execute(query)
        for rows in result.partitions():
            for workflow, item_id, output, final_output in rows:
                yield EditedItem(workflow, item_id, output, final_output or "")  # never None here


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
    unclamped = cast(func.floor(cast(col(ReviewItem.confidence), Float) * bands), Integer)
    band = case((unclamped >= bands, bands - 1), else_=unclamped)
    route, status = col(ReviewItem.route), col(ReviewItem.status)
    query = (
        select(
            route,
            band,
            func.count(),
            _count(status == Status.APPROVED),
            _count(status.in_((Status.REJECTED, Status.EDITED))),
        )
        .where(_in_period(since, until, HUMAN))
        .group_by(route, band)
    )
    with read(db) as session:
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
            col(ReviewItem.route),
            func.count(func.distinct(col(SpotCheck.item_id))),
            func.count(
                func.distinct(case((col(SpotCheck.verdict) == "wrong", col(SpotCheck.item_id))))
            ),
        )
        .join(SpotCheck, col(SpotCheck.item_id) == ReviewItem.id)
        # No status here: spot checks are few, so they lead the join, not the period's items.
        .where(col(ReviewItem.created_at) >= since, col(ReviewItem.created_at) < until)
        .group_by(col(ReviewItem.route))
    )
    with read(db) as session:
        return [SpotChecks(r[0], int(r[1]), int(r[2])) for r in session.execute(query).all()]


@dataclass(frozen=True)
class DriftAlertRow:
    id: str
    workflow: str
    metric: str
    dimension: str
    value: str | None
    began_at: datetime
    detected_at: datetime
    baseline_rate: float
    recent_rate: float
    status: str


def drift_alerts(db: Database, since: datetime, until: datetime) -> list[DriftAlertRow]:
    """The drift alerts detected in [since, until), oldest first (ix_drift_alert_detected)."""
    query = (
        select(
            col(DriftAlert.id),
            col(DriftAlert.workflow),
            col(DriftAlert.metric),
            col(DriftAlert.dimension),
            col(DriftAlert.value),
            col(DriftAlert.began_at),
            col(DriftAlert.detected_at),
            col(DriftAlert.baseline_rate),
            col(DriftAlert.recent_rate),
            col(DriftAlert.status),
        )
        .where(col(DriftAlert.detected_at) >= since, col(DriftAlert.detected_at) < until)
        .order_by(col(DriftAlert.detected_at), col(DriftAlert.id))
    )
    with read(db) as session:
        rows = session.execute(query).all()
    # The status reads back as AlertStatus; the digest carries its plain value.
    return [
        DriftAlertRow(**{**row._asdict(), "status": str(getattr(row.status, "value", row.status))})
        for row in rows
    ]


def any_item_before(db: Database, moment: datetime) -> bool:
    query = select(col(ReviewItem.id)).where(col(ReviewItem.created_at) < moment).limit(1)
    with read(db) as session:
        return session.execute(query).first() is not None

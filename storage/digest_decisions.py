"""What the decisions of a period's items say: rejections per route and reason, who
decided in Slack and how long items had waited for them, who decided the escalated ones.
One join of the items with their decisions answers all three, through the covering
indexes ix_review_item_digest (migration 0006) and ix_decision_digest (0009)."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, literal, or_, select
from sqlmodel import col

from storage.db import Database
from storage.digest_queries import (
    EVERY_STATUS,
    UNSPECIFIED,
    TwoPeriods,
    read,
    seconds_between,
)
from storage.models import Decision, ReviewItem, Status


@dataclass(frozen=True)
class ReasonCount:
    route: str
    reason: str
    count: int
    waiting_hours: float


@dataclass(frozen=True)
class ReviewerWait:
    user: str
    decided: int
    average_minutes: float
    longest_minutes: float


@dataclass(frozen=True)
class EscalationDecider:
    route: str
    user: str
    decided: int


@dataclass(frozen=True)
class Decisions:
    """What the digest reads from the decisions of a period's items."""

    rejections: tuple[list[ReasonCount], list[ReasonCount]]  # (current, previous)
    reviewer_waits: list[ReviewerWait]  # current period, decisions in Slack
    escalation_deciders: list[EscalationDecider]  # current period, decisions in Slack


def decisions(db: Database, periods: TwoPeriods) -> Decisions:
    """Rejections per route and reason in both periods, and who decided in Slack in the
    current one (how long items had waited for them; which escalated items), from one
    join of the items with their decisions, grouped finely enough for all three."""
    current = periods.is_current()
    status, escalated = col(ReviewItem.status), col(ReviewItem.escalation_level) > 0
    source, by = col(Decision.source), col(Decision.by)
    reason = func.coalesce(col(Decision.reason), literal(UNSPECIFIED))
    # Rejections count the item's wait (to decided_at), reviewers the decision's (to `at`).
    wait = seconds_between(col(ReviewItem.decided_at), col(ReviewItem.created_at), db)
    minutes = seconds_between(col(Decision.at), col(ReviewItem.created_at), db) / 60.0
    keys = (current, col(ReviewItem.route), status, escalated, source, by, reason)
    query = (
        select(*keys, func.count(), func.sum(wait), func.sum(minutes), func.max(minutes))
        # Always true (source is never NULL): without it, SQLite probes the unique index on
        # item_id and then reads each decision from the table; with a condition on its
        # second column it probes ix_decision_digest (migration 0009), which answers alone.
        .join(Decision, and_(col(Decision.item_id) == ReviewItem.id, source >= ""))
        # The previous period is read for its rejections only.
        .where(periods.rows(EVERY_STATUS), or_(current, status == Status.REJECTED))
        .group_by(*keys)
    )
    with read(db) as session:
        rows = session.execute(query).all()
    rejected: tuple[dict[tuple[str, str], _Sum], dict[tuple[str, str], _Sum]] = ({}, {})
    waits: dict[str, _Sum] = {}
    deciders: dict[tuple[str, str], int] = {}
    for is_current, route, row_status, was_escalated, row_source, user, why, n, *sums in rows:
        if row_status == Status.REJECTED:
            rejected[0 if is_current else 1].setdefault((route, why), _Sum()).add(n, sums[0])
        if not is_current or row_source != "slack":
            continue
        waits.setdefault(user, _Sum()).add(n, sums[1], sums[2])
        if was_escalated:
            deciders[(route, user)] = deciders.get((route, user), 0) + n
    current_reasons, previous_reasons = (
        [
            ReasonCount(route, why, total.count, float(total.total) / 3600)
            for (route, why), total in by_reason.items()
        ]
        for by_reason in rejected
    )
    return Decisions(
        rejections=(current_reasons, previous_reasons),
        reviewer_waits=[
            ReviewerWait(user, w.count, float(w.total / w.count), float(w.longest or 0))
            for user, w in sorted(waits.items())
        ],
        escalation_deciders=[
            EscalationDecider(route, user, n) for (route, user), n in sorted(deciders.items())
        ],
    )


@dataclass(slots=True)
class _Sum:
    """A count, sum and maximum over groups: float on SQLite, Decimal (exact) on PostgreSQL,
    whose epoch arithmetic is numeric."""

    count: int = 0
    total: float | Decimal = 0
    longest: float | Decimal | None = None

    def add(
        self, count: int, total: float | Decimal | None, longest: float | Decimal | None = None
    ) -> None:
        self.count += count
        # Never mixed: a backend returns all floats or all Decimals.
        self.total += total or 0  # type: ignore[operator]
        if longest is not None and (self.longest is None or longest > self.longest):
            self.longest = longest

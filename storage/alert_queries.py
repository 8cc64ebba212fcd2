"""Drift alerts, read side: the pages of `GET /v1/alerts` and the counts in /metrics.

The hourly drift job writes the rows; this module only reads them. Pages are cut by keyset
on (detected_at, id), newest first, with the signed, filter-bound cursor of
`storage.listing`, so an alert raised while a client pages through never shifts or
repeats what the next page shows.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import case, col, func, or_, select

from storage import listing
from storage.db import Database
from storage.models import AlertStatus, DriftAlert

MAX_LIMIT = listing.MAX_LIMIT


@dataclass(frozen=True)
class AlertFilters:
    workflow: str | None = None
    status: AlertStatus | None = None
    since: datetime | None = None  # detected at or after; aware

    def digest(self) -> str:
        """What a cursor remembers of the filters; the leading tag keeps a cursor of
        another listing (`GET /v1/reviews`) from ever matching."""
        since = self.since.astimezone(UTC).isoformat() if self.since else None
        fields = ["alerts", self.workflow, self.status, since]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertPage:
    alerts: list[DriftAlert]
    next_cursor: str | None


@dataclass(frozen=True)
class AlertCount:
    workflow: str
    metric: str
    total: int  # every episode ever raised
    open: int  # 0 or 1: at most one open episode per workflow and metric


def list_alerts(
    db: Database, filters: AlertFilters, *, limit: int, after: listing.Position | None = None
) -> AlertPage:
    """One page of alerts, newest detected first (id breaks ties, newest first too)."""
    query = select(DriftAlert)
    if filters.workflow is not None:
        query = query.where(DriftAlert.workflow == filters.workflow)
    if filters.status is not None:
        query = query.where(DriftAlert.status == filters.status)
    if filters.since is not None:
        query = query.where(col(DriftAlert.detected_at) >= filters.since)
    if after is not None:
        # listing.Position names its timestamp `created_at`; here it is the detected_at.
        detected = after.created_at
        query = query.where(
            or_(
                col(DriftAlert.detected_at) < detected,
                (col(DriftAlert.detected_at) == detected) & (col(DriftAlert.id) < after.item_id),
            )
        )
    query = query.order_by(col(DriftAlert.detected_at).desc(), col(DriftAlert.id).desc())
    with db.read() as session:
        rows = list(session.exec(query.limit(limit + 1)).all())
    page = rows[:limit]
    cursor = None
    if len(rows) > limit:
        last = page[-1]
        cursor = listing.encode_cursor(listing.Position(last.detected_at, last.id), filters)
    return AlertPage(alerts=page, next_cursor=cursor)


def alert_counts(db: Database) -> list[AlertCount]:
    """Per workflow and metric that ever had an alert: how many, and how many are open."""
    is_open = case((col(DriftAlert.status) == AlertStatus.OPEN, 1), else_=0)
    query = (
        select(DriftAlert.workflow, DriftAlert.metric, func.count(), func.sum(is_open))
        .group_by(DriftAlert.workflow, DriftAlert.metric)
        .order_by(DriftAlert.workflow, DriftAlert.metric)
    )
    with db.read() as session:
        rows = session.exec(query).all()
    return [
        AlertCount(workflow=workflow, metric=metric, total=int(total), open=int(open_ or 0))
        for workflow, metric, total, open_ in rows
    ]

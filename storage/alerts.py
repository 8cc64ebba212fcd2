"""Drift alerts, write side: one hour's run of the alarm, recorded in one transaction.

The hour is claimed through a unique (job, period) row like the digest's, so replicas
running the same hour write it once; the new alerts, their Slack posts (outbox rows) and
the episodes that ended are written with the claim, so a failure leaves none of it and
the hour is simply run again. Reading pages of alerts is `storage.alert_queries`.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from storage import outbox
from storage.db import Database
from storage.models import AlertStatus, DigestRun, DriftAlert, OutboxKind

JOB = "drift"


def open_alerts(db: Database) -> list[DriftAlert]:
    """Every episode still open (at most one per workflow and metric)."""
    with db.read() as session:
        query = select(DriftAlert).where(DriftAlert.status == AlertStatus.OPEN)
        return list(session.exec(query.order_by(col(DriftAlert.detected_at))))


def get_alert(db: Database, alert_id: str) -> DriftAlert | None:
    with db.read() as session:
        return session.get(DriftAlert, alert_id)


def hour_done(db: Database, period: str) -> bool:
    """Whether some replica (or an earlier run) already ran the alarm for this hour."""
    with db.read() as session:
        query = select(DigestRun.id).where(DigestRun.job == JOB, DigestRun.period == period)
        return session.exec(query).first() is not None


def record_hour(
    db: Database,
    *,
    period: str,
    since: datetime,
    until: datetime,
    now: datetime,
    opened: Sequence[DriftAlert],
    closed: Sequence[str],
) -> bool:
    """Claims the hour `period` and writes what its run found: the `opened` alerts, one
    POST_DRIFT outbox row each, and the open episodes whose ids are in `closed`, closed.

    False, with nothing written, when the hour was already claimed (another replica ran
    it) or when another run opened an episode for the same workflow and metric meanwhile
    (the partial unique index refuses a second open one; the next run sees it)."""
    try:
        with db.write() as session:
            session.add(DigestRun(job=JOB, period=period, since=since, until=until, created_at=now))
            session.flush()  # the claim first: a replica that lost it writes nothing
            if closed:
                # Closed before the inserts: a new episode of the same workflow and metric
                # may open in the same hour once the old one has ended.
                session.execute(
                    update(DriftAlert)
                    .where(
                        col(DriftAlert.id).in_(closed), col(DriftAlert.status) == AlertStatus.OPEN
                    )
                    .values(status=AlertStatus.CLOSED, closed_at=now)
                )
            for alert in opened:
                session.add(alert)
                session.flush()
                outbox.enqueue(
                    session,
                    item_id=None,
                    kind=OutboxKind.POST_DRIFT,
                    now=now,
                    payload={"alert_id": alert.id},
                )
            return True
    except IntegrityError:
        return False


def mark_posted(db: Database, alert_id: str, *, channel: str) -> None:
    """Records where the alert was posted."""
    with db.write() as session:
        session.execute(
            update(DriftAlert).where(col(DriftAlert.id) == alert_id).values(channel=channel)
        )

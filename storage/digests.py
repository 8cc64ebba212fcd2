"""Digest runs: one row per (job, period), so one replica posts each digest, once."""

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage import outbox
from storage.db import Database
from storage.models import DigestRun, OutboxKind


def claim_period(
    db: Database, *, job: str, period: str, since: datetime, until: datetime, now: datetime
) -> DigestRun | None:
    """Records that `period` is being posted and queues the post; None if another replica
    (or an earlier run) already has it."""
    try:
        with db.write() as session:
            run = DigestRun(job=job, period=period, since=since, until=until, created_at=now)
            session.add(run)
            session.flush()
            outbox.enqueue(
                session,
                item_id=None,
                kind=OutboxKind.POST_DIGEST,
                now=now,
                payload={"run_id": run.id},
            )
            return run
    except IntegrityError:
        return None


def has_run(db: Database, job: str, period: str) -> bool:
    with db.read() as session:
        query = select(DigestRun.id).where(DigestRun.job == job, DigestRun.period == period)
        return session.exec(query).first() is not None


def get_run(db: Database, run_id: int) -> DigestRun | None:
    with db.read() as session:
        return session.get(DigestRun, run_id)


def runs(db: Database, job: str) -> list[DigestRun]:
    with db.read() as session:
        query = select(DigestRun).where(DigestRun.job == job).order_by(col(DigestRun.id))
        return list(session.exec(query))


def mark_message(db: Database, run_id: int, *, channel: str, ts: str) -> None:
    with db.write() as session:
        run = session.get(DigestRun, run_id)
        assert run is not None
        run.channel, run.message_ts = channel, ts
        session.add(run)


def mark_chart(db: Database, run_id: int) -> None:
    with db.write() as session:
        run = session.get(DigestRun, run_id)
        assert run is not None
        run.chart_posted = True
        session.add(run)

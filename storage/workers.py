"""Worker heartbeats: each process writes its row every few seconds, and a lease held by a
process that stopped heartbeating is free at once, not when the lease runs out."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, or_, update
from sqlmodel import col, select

from storage.db import Database
from storage.models import Worker


def heartbeat(db: Database, worker_id: str, *, now: datetime) -> None:
    """Records that `worker_id` is alive (inserting its row the first time)."""
    with db.write() as session:
        updated = session.execute(
            update(Worker).where(col(Worker.id) == worker_id).values(heartbeat_at=now)
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            session.add(Worker(id=worker_id, started_at=now, heartbeat_at=now))


def remove(db: Database, worker_id: str) -> None:
    """A clean exit: the worker's leases are free for others straight away."""
    with db.write() as session:
        session.execute(delete(Worker).where(col(Worker.id) == worker_id))


def forget_dead(db: Database, *, dead_before: datetime) -> int:
    """Deletes rows of workers silent since `dead_before` (housekeeping only)."""
    with db.write() as session:
        result = session.execute(delete(Worker).where(col(Worker.heartbeat_at) < dead_before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lease_is_free(
    lease_until: Any,
    worker_id: Any,
    *,
    now: datetime,
    dead_before: datetime | None,
    me: str | None,
) -> Any:
    """SQL condition: nobody holds the lease, it ran out, or its holder stopped heartbeating
    (only checked with a `dead_before`). Our own leases never count as dead: our heartbeat
    may lag right after an outage while we still hold those rows."""
    if dead_before is None:
        return or_(lease_until.is_(None), lease_until < now)
    holder_alive = exists().where(
        col(Worker.id) == worker_id, col(Worker.heartbeat_at) >= dead_before
    )
    holder_gone = worker_id.is_not(None) & ~holder_alive
    if me is not None:
        holder_gone = holder_gone & (worker_id != me)
    return or_(lease_until.is_(None), lease_until < now, holder_gone)


def alive(db: Database, *, dead_before: datetime) -> list[str]:
    with db.read() as session:
        query = select(Worker.id).where(col(Worker.heartbeat_at) >= dead_before)
        return list(session.exec(query))

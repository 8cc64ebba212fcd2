"""Spot checks: a person's verdict on an item hitl approved by itself. The item never
changes; the verdicts feed its message and the digest, and why one was wrong is kept in
the audit trail."""

from datetime import datetime

from sqlmodel import Session, col, select

from storage import audit
from storage.db import Database
from storage.models import AuditEvent, ReviewItem, SpotCheck, Status
from storage.reviews import enqueue_update


def record_spot_check(
    db: Database,
    item_id: str,
    *,
    by: str,
    verdict: str,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
) -> ReviewItem | None:
    """A person's verdict on an auto-approved item; the last verdict of a person counts.
    Why it was wrong (`reason`, `note`) is kept in the audit trail. The item itself never
    changes: the digest reads the verdicts."""
    with db.write() as session:
        item = session.get(ReviewItem, item_id)
        if item is None or item.status != Status.AUTO_APPROVED:
            return None
        existing = session.exec(
            select(SpotCheck).where(SpotCheck.item_id == item_id, SpotCheck.user_id == by)
        ).first()
        if existing is None:
            session.add(SpotCheck(item_id=item_id, user_id=by, verdict=verdict, at=now))
        else:
            existing.verdict, existing.at = verdict, now
            session.add(existing)
        audit.record(
            session,
            item_id=item_id,
            at=now,
            actor=by,
            source="slack",
            action="spot_checked",
            verdict=verdict,
            reason=reason,
            note=note,
        )
        enqueue_update(session, item, now)
        return item


def spot_checks_of(db: Database, item_id: str) -> list[SpotCheck]:
    with db.read() as session:
        return spot_checks_in(session, item_id)


def spot_checks_in(session: Session, item_id: str) -> list[SpotCheck]:
    query = select(SpotCheck).where(SpotCheck.item_id == item_id).order_by(col(SpotCheck.id))
    return list(session.exec(query))


def spot_notes_in(session: Session, item_id: str) -> dict[str, tuple[str | None, str | None]]:
    """Each spot checker's latest reason and note, from the audit trail."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.item_id == item_id, AuditEvent.action == "spot_checked")
        .order_by(col(AuditEvent.id))
    )
    return {
        event.actor: (event.detail.get("reason"), event.detail.get("note"))
        for event in session.exec(query)
    }

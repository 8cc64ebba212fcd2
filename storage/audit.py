"""The audit trail: one append-only row per state change."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import AuditEvent


def record(
    session: Session,
    *,
    item_id: str,
    at: datetime,
    actor: str,
    source: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            item_id=item_id,
            at=at,
            actor=actor,
            source=source,
            action=action,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
        )
    )


def trail(session: Session, item_id: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(col(AuditEvent.id))
    return list(session.exec(query))

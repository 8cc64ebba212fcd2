"""The audit trail: one append-only row per state change."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from storage.models import AuditEvent, table_of


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


_insert_row = insert(table_of(AuditEvent))


def record_written(
    session: Session,
    *,
    item_id: str,
    at: datetime,
    actor: str,
    source: str,
    action: str,
    detail: dict[str, Any],
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    """`audit.record` written at once by one Core statement (the hot path); the item's row
    must be written already."""
    session.connection().execute(
        _insert_row,
        {
            "item_id": item_id,
            "at": at,
            "actor": actor,
            "source": source,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "detail": detail,
        },
    )


def trail(session: Session, item_id: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(col(AuditEvent.id))
    return list(session.exec(query))

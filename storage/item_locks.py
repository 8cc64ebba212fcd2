"""The one lock order for a batch of an item's timed rows (escalation steps, reminders):
the items first, then the rows, each in id order. A decision takes the item first too, so a
decision and a firing at the same moment wait for each other instead of deadlocking, and two
batches never wait on each other in a circle."""

from typing import TypeVar

from sqlmodel import Session, col, select

from storage.models import EscalationStepRow, ReminderRow, ReviewItem

TimedRow = TypeVar("TimedRow", EscalationStepRow, ReminderRow)


def lock_items_then_rows(
    session: Session, table: type[TimedRow], row_ids: list[int]
) -> tuple[dict[str, ReviewItem], dict[int, TimedRow]]:
    """Locks the rows' items, then the rows; both by id."""
    item_ids = session.exec(select(table.item_id).where(col(table.id).in_(row_ids))).all()
    if not item_ids:
        return {}, {}
    items = session.exec(
        select(ReviewItem)
        .where(col(ReviewItem.id).in_(set(item_ids)))
        .order_by(col(ReviewItem.id))
        .with_for_update()
    ).all()
    rows = session.exec(
        select(table)
        .where(col(table.id).in_(row_ids))
        .order_by(col(table.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {item.id: item for item in items}, {row.id: row for row in rows if row.id is not None}

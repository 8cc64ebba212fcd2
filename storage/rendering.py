"""What an item's Slack messages show (the item, its decision, approvers and spot checks),
read together: one query for the common case, the rare parts only when it saw some."""

from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists
from sqlmodel import col, select

from storage.db import Database
from storage.models import Approval, Decision, ReviewItem, SpotCheck
from storage.reviews import approvers_in
from storage.spot_checks import spot_checks_in, spot_notes_in


@dataclass(frozen=True)
class Rendering:
    """What an item's Slack messages show, read together."""

    item: ReviewItem
    decision: Decision | None
    approvers: list[str]
    spot_checks: list[SpotCheck]
    # Each spot checker's latest reason and note, from the audit trail.
    spot_notes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def rendering_of(db: Database, item_id: str) -> Rendering | None:
    """The item with its decision, approvers and spot checks, in one read."""
    with db.lookup() as session:
        found = session.execute(_rendering_query, {"item_id": item_id}).first()
        if found is None:
            return None
        item, decision, approved, checked = found
        # Approvals and spot checks are rare: read only when the first query saw some.
        spot_checks = spot_checks_in(session, item_id) if checked else []
        return Rendering(
            item=item,
            decision=decision,
            approvers=approvers_in(session, item) if approved else [],
            spot_checks=spot_checks,
            spot_notes=spot_notes_in(session, item_id) if spot_checks else {},
        )


# The item, its decision and whether approvals or spot checks exist: built once.
_rendering_query = (
    select(
        ReviewItem,
        Decision,
        exists()
        .where(
            col(Approval.item_id) == col(ReviewItem.id),
            col(Approval.round) == col(ReviewItem.approval_round),
        )
        .label("approved"),
        exists().where(col(SpotCheck.item_id) == col(ReviewItem.id)).label("checked"),
    )
    .outerjoin(Decision, col(Decision.item_id) == col(ReviewItem.id))
    .where(col(ReviewItem.id) == bindparam("item_id"))
)

"""An agent's own items, newest first, a page at a time (`GET /v1/reviews`).

Pages are cut by keyset on (created_at, id), not by offset: items submitted while an agent
pages through never shift or repeat what the next page shows. The cursor is opaque to the
agent: the last item's position and the filters it was made for, with a checksum so that
an edited or truncated cursor is refused rather than silently answered with another page.
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlmodel import col, or_, select

from storage.db import Database
from storage.models import Decision, ReviewItem, Status

MAX_LIMIT = 200


@dataclass(frozen=True)
class Filters:
    agent: str
    status: Status | None = None
    workflow: str | None = None
    route: str | None = None
    since: datetime | None = None  # created at or after

    def digest(self) -> str:
        """What a cursor remembers of the filters: a cursor only continues its own listing."""
        since = _utc(self.since).isoformat() if self.since else None
        fields = [self.agent, self.status, self.workflow, self.route, since]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


class CursorScope(Protocol):
    """What a cursor is bound to: the filters of a listing (these, or another's)."""

    def digest(self) -> str: ...


@dataclass(frozen=True)
class Position:
    created_at: datetime
    item_id: str


@dataclass(frozen=True)
class Page:
    items: list[tuple[ReviewItem, Decision | None]]
    next_cursor: str | None


class BadCursor(ValueError):
    """A cursor this listing did not make, or made for other filters."""


def list_items(
    db: Database, filters: Filters, *, limit: int, after: Position | None = None
) -> Page:
    """One page of the agent's items, each with its decision (None while undecided)."""
    query = select(ReviewItem).where(ReviewItem.agent == filters.agent)
    if filters.status is not None:
        query = query.where(ReviewItem.status == filters.status)
    if filters.workflow is not None:
        query = query.where(ReviewItem.workflow == filters.workflow)
    if filters.route is not None:
        query = query.where(ReviewItem.route == filters.route)
    if filters.since is not None:
        query = query.where(col(ReviewItem.created_at) >= _utc(filters.since))
    if after is not None:
        created = _utc(after.created_at)
        query = query.where(
            or_(
                col(ReviewItem.created_at) < created,
                (col(ReviewItem.created_at) == created) & (col(ReviewItem.id) < after.item_id),
            )
        )
    query = query.order_by(col(ReviewItem.created_at).desc(), col(ReviewItem.id).desc())
    with db.read() as session:
        rows = list(session.exec(query.limit(limit + 1)).all())
        page = rows[:limit]
        ids = [item.id for item in page]
        decisions = {
            decision.item_id: decision
            for decision in session.exec(select(Decision).where(col(Decision.item_id).in_(ids)))
        }
    cursor = None
    if len(rows) > limit:
        last = page[-1]
        cursor = encode_cursor(Position(last.created_at, last.id), filters)
    return Page(items=[(item, decisions.get(item.id)) for item in page], next_cursor=cursor)


def encode_cursor(position: Position, filters: CursorScope) -> str:
    payload = json.dumps(
        [_utc(position.created_at).isoformat(), position.item_id, filters.digest()],
        separators=(",", ":"),
    ).encode()
    raw = _checksum(payload) + payload
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: CursorScope) -> Position:
    """The position a cursor continues from; BadCursor when it was not made by
    encode_cursor for these filters."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise BadCursor("The cursor is not one this API returned.") from None
    check, payload = raw[:8], raw[8:]
    if len(raw) <= 8 or check != _checksum(payload):
        raise BadCursor("The cursor is not one this API returned.")
    created_at, item_id, digest = json.loads(payload)
    if digest != filters.digest():
        raise BadCursor("The cursor was made for other filters; send the same filters again.")
    return Position(datetime.fromisoformat(created_at), item_id)


def _checksum(payload: bytes) -> bytes:
    # Integrity, not secrecy: the agent filter bounds what any cursor can reach anyway.
    return hashlib.sha256(b"hitl-list-cursor:" + payload).digest()[:8]


def _utc(value: datetime) -> datetime:
    """Aware UTC (the columns refuse naive values); a naive `since` is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

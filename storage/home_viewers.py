"""Whose App Home is kept up to date: the people who opened theirs, and the publishes
queued for them (coalesced: at most one queued per person, throttled by `every`)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from storage import outbox
from storage.db import Database
from storage.models import HomeViewer, OutboxKind
from storage.types import UTCDateTime


@dataclass(frozen=True)
class HomeRefresh:
    """Which Homes a change concerns: those of `people` (None: of everyone who opened
    theirs), published no sooner than `every` after their last publish."""

    people: tuple[str, ...] | None
    every: timedelta


def record_home_opened(db: Database, user: str, *, now: datetime) -> None:
    with db.write() as session:
        viewer = session.get(HomeViewer, user, with_for_update=True)
        if viewer is None:
            session.add(HomeViewer(user_id=user, opened_at=now))
        else:
            viewer.opened_at = now
            session.add(viewer)


def has_home_viewers(db: Database) -> bool:
    """Whether anyone has opened the Home: until then, changes cost one tiny read."""
    with db.lookup() as session:
        return session.exec(select(HomeViewer.user_id).limit(1)).first() is not None


def home_viewers(db: Database, among: Iterable[str] | None = None) -> list[str]:
    """Who has opened the Home (all of them, or those `among` the given people)."""
    with db.lookup() as session:
        query = select(HomeViewer.user_id)
        if among is not None:
            query = query.where(col(HomeViewer.user_id).in_(sorted(set(among))))
        return list(session.exec(query))


def queue_home_publish(
    db: Database, users: Sequence[str], *, now: datetime, every: timedelta
) -> int:
    """Queues a Home publish for each of `users` who opened the Home and has none queued,
    no sooner than `every` after their last one. Returns how many were queued."""
    if not users:
        return 0
    with db.write() as session:
        return queue_publish_in(session, HomeRefresh(tuple(users), every), now=now)


def queue_publish_in(session: Session, refresh: HomeRefresh, *, now: datetime) -> int:
    """`queue_home_publish` inside the caller's transaction, so a change and the refresh
    of the Homes it concerns commit together: one Core statement when nobody concerned
    has a Home open (the submission's hot path), no unit of work."""
    if refresh.people is None:
        found = session.connection().execute(_all_due_viewers)
    elif refresh.people:
        people = sorted(set(refresh.people))
        found = session.connection().execute(_due_viewers_among, {"people": people})
    else:
        return 0
    queued = 0
    for user, published_at in found.all():
        due = now if published_at is None else max(now, published_at + refresh.every)
        row = outbox.enqueue(
            session, item_id=None, kind=OutboxKind.PUBLISH_HOME, now=now, payload={"user": user}
        )
        row.due_at = due
        session.connection().execute(_set_publish_due, {"user": user, "due": due})
        queued += 1
    return queued


# Viewers with no publish queued, locked until the change commits: built once.
_all_due_viewers = (
    select(col(HomeViewer.user_id), col(HomeViewer.published_at))
    .where(col(HomeViewer.publish_due_at).is_(None))
    .order_by(col(HomeViewer.user_id))
    .with_for_update()
)
_due_viewers_among = _all_due_viewers.where(
    col(HomeViewer.user_id).in_(bindparam("people", expanding=True))
)
_set_publish_due = (
    update(HomeViewer)
    .where(col(HomeViewer.user_id) == bindparam("user"))
    .values(publish_due_at=bindparam("due", type_=UTCDateTime))
)


def start_home_publish(db: Database, user: str, *, now: datetime) -> HomeViewer | None:
    """A publish begins: a change from now on queues the next one (its state is read
    after this). Returns the viewer with the page to show."""
    with db.write() as session:
        viewer = session.get(HomeViewer, user, with_for_update=True)
        if viewer is None:
            return None
        viewer.publish_due_at = None
        viewer.published_at = now
        session.add(viewer)
        return viewer


def set_home_page(db: Database, user: str, *, offset: int, size: int) -> None:
    with db.write() as session:
        viewer = session.get(HomeViewer, user, with_for_update=True)
        if viewer is not None:
            viewer.page_offset, viewer.page_size = max(0, offset), max(1, size)
            session.add(viewer)

"""The reviewer's queue: take an item, hand it over, record the discussion in its thread,
and read what waits for a person. Every read goes through the same permission rule as
deciding (`may_decide_item`), so nobody is shown an item they could not decide. Each
change commits through `storage.queue` and publishes one `ItemChanged` after its commit."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.events import ChangeKind, EventBus, ItemChanged
from commands.homes import HOME_EVERY
from commands.items import escalated_to, may_decide_item
from rules import Route, may_decide
from storage import queue, reviews
from storage.db import Database
from storage.models import Decision, ItemComment, ReviewItem
from storage.queue import TakeOutcome, TakeResult

log = logging.getLogger(__name__)

__all__ = [
    "HOME_EVERY",
    "HomeState",
    "TakeOutcome",
    "TakeResult",
    "delete_reply",
    "edit_reply",
    "hand_over",
    "home_state",
    "open_home",
    "people_to_refresh",
    "record_reply",
    "refresh_homes",
    "take",
    "waiting_for",
    "waiting_ids",
]

DECIDED_WINDOW = timedelta(days=7)


# --- take and hand over --------------------------------------------------------------


def take(db: Database, item_id: str, *, by: str, now: datetime, events: EventBus) -> TakeResult:
    """`by` says they are on it; others can still decide, and escalation still runs."""
    result = queue.take(db, item_id, by=by, now=now, may_decide=may_decide_item)
    if result.outcome == TakeOutcome.TAKEN:
        _announce(result, ChangeKind.TAKEN, events)
        log.info("taken by %s", by, extra={"item_id": item_id})
    return result


def hand_over(
    db: Database, item_id: str, *, by: str, to: str, now: datetime, events: EventBus
) -> TakeResult:
    """`to` (who must be allowed to decide) is on it from now on and gets it by DM."""
    result = queue.hand_over(db, item_id, by=by, to=to, now=now, may_decide=may_decide_item)
    if result.outcome == TakeOutcome.HANDED_OVER:
        _announce(result, ChangeKind.HANDED_OVER, events)
        log.info("handed over by %s to %s", by, to, extra={"item_id": item_id})
    return result


def _announce(result: TakeResult, kind: ChangeKind, events: EventBus) -> None:
    item = result.item
    assert item is not None
    events.publish(ItemChanged(item.id, kind, item.status, "slack", item.route, item.deadline))


# --- the discussion in the item's thread ---------------------------------------------


def record_reply(
    db: Database,
    *,
    channel: str,
    thread_ts: str,
    ts: str,
    user: str,
    text: str,
    at: datetime,
    events: EventBus,
) -> ItemComment | None:
    """A person's reply in the thread of one of the item's messages becomes a comment;
    replies in other threads are none of hitl's business (None)."""
    item_id = queue.item_of_thread(db, channel, thread_ts)
    if item_id is None:
        return None
    comment = queue.add_comment(db, item_id, user=user, channel=channel, ts=ts, text=text, at=at)
    if comment is not None:
        _commented(db, item_id, events)
    return comment


def edit_reply(
    db: Database, *, channel: str, ts: str, text: str, at: datetime, events: EventBus
) -> ItemComment | None:
    comment = queue.edit_comment(db, channel, ts, text=text, at=at)
    if comment is not None:
        _commented(db, comment.item_id, events)
    return comment


def delete_reply(
    db: Database, *, channel: str, ts: str, at: datetime, events: EventBus
) -> ItemComment | None:
    comment = queue.delete_comment(db, channel, ts, at=at)
    if comment is not None:
        _commented(db, comment.item_id, events)
    return comment


def _commented(db: Database, item_id: str, events: EventBus) -> None:
    item = reviews.get_item(db, item_id)
    if item is not None:
        events.publish(ItemChanged(item.id, ChangeKind.COMMENTED, item.status, "slack", item.route))


# --- what waits for a person ---------------------------------------------------------


def waiting_ids(db: Database, user: str) -> list[str]:
    """Undecided items `user` may decide now (escalated ones included), the nearest
    deadline first: the rule of deciding (`rules.may_decide` on the route frozen on the
    item, and who it was escalated to), read from light rows so a long queue stays quick."""
    routes: dict[tuple[str, str], Route | None] = {}
    ids = []
    for entry in queue.pending_entries(db):
        key = (entry.route, entry.rules_version)
        if key not in routes:
            snapshot = queue.route_snapshot(db, *key)
            routes[key] = Route.model_validate(snapshot) if snapshot is not None else None
        route = routes[key]
        asked = [person for step in entry.escalations for person in step.get("to", [])]
        if route is not None and may_decide(route, user, escalated_to=asked):
            ids.append(entry.id)
    return ids


def waiting_for(
    db: Database, user: str, *, offset: int = 0, limit: int | None = None
) -> tuple[int, list[ReviewItem]]:
    """How many items wait for `user`, and those from `offset` on (at most `limit`)."""
    ids = waiting_ids(db, user)
    return len(ids), _items(
        db, user, ids[offset:] if limit is None else ids[offset : offset + limit]
    )


def _items(db: Database, user: str, ids: list[str]) -> list[ReviewItem]:
    """The items shown, read whole; each is checked again by the rule of deciding."""
    return [item for item in queue.items_by_id(db, ids) if may_decide_item(item, user)]


@dataclass(frozen=True)
class HomeState:
    user: str
    waiting: list[ReviewItem]  # the page shown
    waiting_total: int
    offset: int
    size: int
    taken: list[ReviewItem]
    decided_total: int  # in the last 7 days
    decided: list[tuple[ReviewItem, Decision]]  # the latest of them


def home_state(
    db: Database, user: str, *, now: datetime, offset: int = 0, size: int = 20, recent: int = 10
) -> HomeState:
    ids = waiting_ids(db, user)
    offset = min(max(0, offset), max(0, len(ids) - 1))
    # The same rule as deciding, for taken items too.
    taken = [item for item in queue.taken_by(db, user) if may_decide_item(item, user)]
    decided_total, decided = queue.decided_by(db, user, now - DECIDED_WINDOW, recent)
    return HomeState(
        user=user,
        waiting=_items(db, user, ids[offset : offset + size]),
        waiting_total=len(ids),
        offset=offset,
        size=size,
        taken=taken,
        decided_total=decided_total,
        decided=decided,
    )


# --- keeping Homes up to date --------------------------------------------------------


def open_home(db: Database, user: str, *, now: datetime) -> None:
    """The person opened the Home: remember them, and publish it (coalesced, throttled)."""
    queue.record_home_opened(db, user, now=now)
    queue.queue_home_publish(db, [user], now=now, every=HOME_EVERY)


def people_to_refresh(db: Database, item_id: str) -> list[str] | None:
    """Whose Home may show the item: who may decide it, who is on it, who decided it.
    None means everyone (a route that lists no owners lets anyone decide)."""
    item = reviews.get_item(db, item_id)
    if item is None:
        return []
    owners = item.frozen_route().owner.users
    if not owners:
        return None
    people = {*owners, *escalated_to(item)}
    if item.taken_by:
        people.add(item.taken_by)
    decision = reviews.get_decision(db, item_id)
    if decision is not None and decision.source == "slack":
        people.add(decision.by)
    return sorted(people)


def refresh_homes(db: Database, event: ItemChanged, *, now: datetime) -> int:
    """Queues a Home publish for the people a change concerns who have opened their Home
    (never the whole workspace). Comments and spot checks are not shown there."""
    if event.kind in (ChangeKind.COMMENTED, ChangeKind.SPOT_CHECKED):
        return 0
    if event.kind == ChangeKind.SUBMITTED:
        # Queued in the submission's own transaction (`commands.homes`); an auto-approved
        # item is in nobody's queue.
        return 0
    if not queue.has_home_viewers(db):
        return 0
    people = people_to_refresh(db, event.item_id)
    viewers = queue.home_viewers(db, among=people)
    return queue.queue_home_publish(db, viewers, now=now, every=HOME_EVERY)

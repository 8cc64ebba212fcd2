"""Reminders: a short reply in the item's thread naming the people who may decide, at the
route's (or the current step's) `remind` interval, until the item is decided or the next
step fires. The clock claims due reminder rows; this decides what each says and what
follows it, and storage.reminders commits it. Reminders never change who may decide.
"""

import logging
from datetime import datetime, timedelta

from rules import Route, escalation
from storage import groups, reminders
from storage.db import Database
from storage.models import ReminderRow, ReviewItem
from storage.reminders import ReminderFiring, ReminderPlan, ReminderResult

log = logging.getLogger(__name__)

_MAX_MENTIONS = 20  # a reminder names at most this many people; the rest are counted


def reminder_plan(reminder: escalation.Reminder | None) -> ReminderPlan | None:
    """A rules reminder as the row storage inserts."""
    if reminder is None:
        return None
    return ReminderPlan(reminder.level, reminder.seq, reminder.due_at)


def first_reminder(route: Route, created_at: datetime) -> ReminderPlan | None:
    """The first reminder of a new item (None: its route reminds nobody before a step)."""
    return reminder_plan(escalation.first_reminder(route, created_at))


def level_reminder(
    route: Route, level: int, since: datetime, next_due: datetime | None
) -> ReminderPlan | None:
    """The first reminder once escalation `level` has started at `since` (a step's due
    time), unless the step after it (due at `next_due`) comes first."""
    return reminder_plan(escalation.next_reminder(route, level, 1, since, next_due))


def deciders(item: ReviewItem, route: Route) -> list[str]:
    """Who may decide the item now: its owners, then everyone it was escalated to (user
    groups by their recorded members, or by the group itself before they are known)."""
    people = [*route.owner.users, *groups.escalated_people(item)]
    return list(dict.fromkeys(people))


def reminder_text(item: ReviewItem, route: Route, people: list[str], now: datetime) -> str:
    """The thread reply, as Slack mrkdwn (mentions notify the people named)."""
    waited = _humanize(now - item.created_at)
    if not people:
        return (
            f":bell: Reminder: this item has waited {waited} for a decision; anyone in "
            f"<#{route.owner.channel}> may decide."
        )
    shown = [_mention(person) for person in people[:_MAX_MENTIONS]]
    more = len(people) - _MAX_MENTIONS
    names = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return f":bell: Reminder: this item has waited {waited} for a decision from {names}."


def _mention(target: str) -> str:
    return f"<!subteam^{target}>" if target.startswith("S") else f"<@{target}>"


def _humanize(waited: timedelta) -> str:
    minutes = max(0, int(waited.total_seconds() // 60))
    if minutes < 1:
        return f"{max(0, int(waited.total_seconds()))} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def plan_reminder(item: ReviewItem, reminder: ReminderRow, now: datetime) -> ReminderFiring:
    """What a due reminder of this item says, and the reminder after it, by its frozen
    route (the next step is the item's current deadline)."""
    route = item.frozen_route()
    people = deciders(item, route)
    following = escalation.next_reminder(
        route, reminder.level, reminder.seq + 1, reminder.due_at, item.deadline
    )
    return ReminderFiring(
        text=reminder_text(item, route, people, now),
        mentioned=people,
        next_reminder=reminder_plan(following),
    )


def fire_reminders(db: Database, reminder_ids: list[int], *, now: datetime) -> int:
    """Fires claimed reminders in one transaction; returns how many were posted (a stale
    one, already fired or overtaken by a decision or a step, says nothing)."""
    results: list[ReminderResult] = reminders.fire_many(
        db, reminder_ids, now=now, plan=lambda item, reminder: plan_reminder(item, reminder, now)
    )
    fired = [result for result in results if result.fired]
    for result in fired:
        log.info("reminded the people who may decide", extra={"item_id": result.item_id})
    return len(fired)

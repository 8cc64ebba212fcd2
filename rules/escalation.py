"""What happens next in an item's escalation chain: pure functions over a frozen route.

Steps are numbered 0, 1, 2… in the order they run (the last one repeated `repeat` more
times). Each waits its `after` from the previous step's due time, so a late sweep never
pushes the rest of the chain later. Once the last step has fired, its people get the same
`after` again; then `on_exhausted` applies (`keep`: nothing more happens).

With working hours (`hours` on the route) every `after` and `remind` counts only working
time, so each due time is the real wall-clock instant the step fires, always in working
hours. Reminders: level 0 (before any step) uses the route's `remind`; once step k has
fired, that step's `remind`, else the route's; a reminder due at or after the next step is
not scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.calendar import add_time
from rules.policy import escalation_chain
from rules.schema import EscalationStep, Route


@dataclass(frozen=True)
class Escalate:
    """Step `index` falls due at `due_at`."""

    index: int
    step: int  # position in the route's `escalation` list
    repeat: int  # 0 the first time; 1.. for the repeats of the last step
    due_at: datetime


@dataclass(frozen=True)
class Exhaust:
    """The chain has run out: apply `action` (expire or reject) at `due_at`."""

    index: int
    due_at: datetime
    action: str


Next = Escalate | Exhaust | None


def _at(route: Route, index: int, due_at: datetime) -> Next:
    chain = escalation_chain(route)
    calendar = route.calendar()
    if index < len(chain):
        step = min(index, len(route.escalation) - 1)
        return Escalate(index, step, index - step, add_time(calendar, due_at, chain[index].after))
    if index == len(chain) and chain and route.on_exhausted != "keep":
        return Exhaust(index, add_time(calendar, due_at, chain[-1].after), route.on_exhausted)
    return None


def first(route: Route, created_at: datetime) -> Next:
    """The first thing due for an item that arrived at `created_at` (None: no chain)."""
    return _at(route, 0, created_at)


def after(route: Route, index: int, due_at: datetime) -> Next:
    """What is due once step `index`, due at `due_at`, has fired."""
    return _at(route, index + 1, due_at)


def step_at(route: Route, index: int) -> EscalationStep:
    return escalation_chain(route)[index]


def exhaust_index(route: Route) -> int:
    """The index that stands for "the chain ran out" (one past the last step)."""
    return len(escalation_chain(route))


@dataclass(frozen=True)
class Deadline:
    """What comes next for an item, as the deadline row to store (plain data)."""

    step_index: int
    step: int  # position in the route's `escalation` list; one past it for "ran out"
    repeat: int
    exhaust: bool
    due_at: datetime


def deadline_of(route: Route, next_step: Next) -> Deadline | None:
    """A decision about what comes next, as a deadline row."""
    if isinstance(next_step, Escalate):
        return Deadline(next_step.index, next_step.step, next_step.repeat, False, next_step.due_at)
    if isinstance(next_step, Exhaust):
        # "The chain ran out" takes the step number one past the route's last step, so its
        # (item, step, repeat) key is unique beside the real steps.
        return Deadline(next_step.index, len(route.escalation), 0, True, next_step.due_at)
    return None


def first_deadline(route: Route, created_at: datetime) -> Deadline | None:
    """The first deadline of an item that arrived at `created_at` (None: no chain)."""
    return deadline_of(route, first(route, created_at))


def deadline_after(route: Route, index: int, due_at: datetime) -> Deadline | None:
    """The deadline that follows step `index`, due at `due_at`, once it has fired."""
    return deadline_of(route, after(route, index, due_at))


# --- reminders -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """Reminder `seq` (1, 2, …) of escalation level `level` falls due at `due_at`."""

    level: int
    seq: int
    due_at: datetime


def remind_interval(route: Route, level: int) -> timedelta | None:
    """How often the people who may decide are reminded at escalation `level`."""
    if level == 0:
        return route.remind
    chain = escalation_chain(route)
    if level > len(chain):
        return route.remind
    return chain[level - 1].remind or route.remind


def next_reminder(
    route: Route, level: int, seq: int, since: datetime, next_due: datetime | None
) -> Reminder | None:
    """Reminder `seq` of `level`, one interval after `since` (the level's start or the
    previous reminder), unless the level has no reminders or the next step (due at
    `next_due`) comes first."""
    interval = remind_interval(route, level)
    if interval is None:
        return None
    due_at = add_time(route.calendar(), since, interval)
    if next_due is not None and due_at >= next_due:
        return None
    return Reminder(level, seq, due_at)


def first_reminder(route: Route, created_at: datetime) -> Reminder | None:
    """The first reminder of an item that arrived at `created_at` (level 0)."""
    first_step = first_deadline(route, created_at)
    return next_reminder(route, 0, 1, created_at, first_step.due_at if first_step else None)

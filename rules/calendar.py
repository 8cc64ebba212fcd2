"""Working time: when a route's people are at work, and adding working time to an instant.

Pure functions over a `Calendar` (weekdays, a daily window, a time zone, holidays). All
instants are timezone-aware; results are in UTC. A working window is the local `start` to
`end` of a working day, both included, converted to real instants, so a day on which the
clocks change counts the time that really passes (a 09:00-18:00 window is 9 h long on
every day in Europe/Berlin, since the change happens at night).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.schedule import WEEKDAYS

# More than enough to find the next working day past any list of holidays a person writes.
_SEARCH_DAYS = 3 * 366
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Calendar:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    end: time  # later than `start`: a window never crosses midnight
    timezone: str = "UTC"
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a calendar needs at least one working day")
        if self.start >= self.end:
            raise ValueError("working hours must end after they start, on the same day")

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon,wed,fri``, ``sun-thu`` or ``fri-mon`` (a range may wrap round
    the week) as weekday numbers; raises ValueError saying what is wrong."""
    days: set[int] = set()
    parts = [part.strip().lower() for part in text.split(",")]
    for part in parts:
        first, dash, last = part.partition("-")
        names = [first.strip(), last.strip()] if dash else [first]
        for name in names:
            if name not in WEEKDAYS:
                raise ValueError(
                    f"unknown weekday {name!r}; write days like mon-fri or mon,wed,fri "
                    f"({', '.join(WEEKDAYS)})"
                )
        begin = WEEKDAYS.index(names[0])
        finish = WEEKDAYS.index(names[-1])
        days.update((begin + offset) % 7 for offset in range((finish - begin) % 7 + 1))
    return frozenset(days)


def parse_clock(text: str) -> time:
    """``"09:00"`` as a time of day (24-hour); raises ValueError saying what is wrong."""
    found = _CLOCK.match(text)
    if found is None:
        raise ValueError(f'{text!r} is not a time of day; write it like "09:00"')
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day; use 00:00 to 23:59")
    return time(hour, minute)


def _windows_from(calendar: Calendar, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The working windows (start, end) in UTC, in order, from the local day of `instant`."""
    zone = calendar.tzinfo
    current = instant.astimezone(zone).date()
    idle_days = 0
    while idle_days < _SEARCH_DAYS:
        day, current = current, current + timedelta(days=1)
        if day.weekday() in calendar.days and day not in calendar.holidays:
            begin = datetime.combine(day, calendar.start, zone).astimezone(UTC)
            finish = datetime.combine(day, calendar.end, zone).astimezone(UTC)
            if finish > begin:  # a window inside a skipped hour (clocks going forward) is empty
                idle_days = 0
                yield begin, finish
                continue
        idle_days += 1
    raise ValueError(f"no working day in the {_SEARCH_DAYS} days before {current.isoformat()}")


def is_working_time(calendar: Calendar, instant: datetime) -> bool:
    """Whether `instant` is inside a working window (its start and end included)."""
    begin, finish = next(
        (begin, finish) for begin, finish in _windows_from(calendar, instant) if finish >= instant
    )
    return begin <= instant <= finish


def next_working_instant(calendar: Calendar, instant: datetime) -> datetime:
    """`instant` itself when it is working time, else the start of the next working window."""
    for begin, finish in _windows_from(calendar, instant):
        if finish >= instant:
            return max(begin, instant).astimezone(UTC)
    raise AssertionError("unreachable: _windows_from raises when it runs out")


def add_working_time(calendar: Calendar, instant: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of working time has passed since `instant`.

    Time outside the working windows does not count; the result is always working time
    (a duration used up exactly at the end of a window ends there, not the next morning).
    """
    if duration < timedelta(0):
        raise ValueError("cannot add a negative working time")
    remaining = duration
    for begin, finish in _windows_from(calendar, instant):
        if finish < instant:
            continue
        start = max(begin, instant)
        available = finish - start
        if remaining <= available:
            return (start + remaining).astimezone(UTC)
        remaining -= available
    raise AssertionError("unreachable: _windows_from raises when it runs out")


def add_time(calendar: Calendar | None, instant: datetime, duration: timedelta) -> datetime:
    """Working time with a calendar, wall-clock time without one."""
    if calendar is None:
        return instant + duration
    return add_working_time(calendar, instant, duration)

"""The weekly time of the friction digest: ``"mon 09:00"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
_SCHEDULE = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WeeklyTime:
    weekday: int  # 0 = Monday, as datetime.weekday()
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:{self.minute:02d}"


def parse_weekly_time(text: str) -> WeeklyTime:
    """Parse ``"mon 09:00"`` (weekday ``mon``..``sun`` or its full name, 24-hour time)."""
    found = _SCHEDULE.match(text)
    if found is None:
        raise ValueError("must be a weekday and a 24-hour time, like 'mon 09:00'")
    day_text, hour_text, minute_text = found.groups()
    day = day_text.lower()
    if day in WEEKDAYS:
        weekday = WEEKDAYS.index(day)
    elif day in _FULL_WEEKDAYS:
        weekday = _FULL_WEEKDAYS.index(day)
    else:
        raise ValueError(f"unknown weekday {day_text!r}; use one of {', '.join(WEEKDAYS)}")
    hour, minute = int(hour_text), int(minute_text)
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour_text}:{minute_text} is not a time of day; use 00:00 to 23:59")
    return WeeklyTime(weekday=weekday, hour=hour, minute=minute)

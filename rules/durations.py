"""Human-written durations such as ``90s``, ``30m``, ``2h``, ``1d`` or ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

UNIT_SECONDS: dict[str, int] = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

_PART = re.compile(r"\s*(\d+)\s*([A-Za-z]*)")
_EXAMPLES = "like 90s, 30m, 2h, 1d or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse ``text`` into a positive timedelta, or raise ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise TypeError(f"duration must be a string, not {type(text).__name__}")
    source = text.strip()
    if not source:
        raise ValueError(f"duration is empty; write a number and a unit, {_EXAMPLES}")
    if source.startswith("-"):
        raise ValueError(f"duration {text!r} is negative; it must be longer than zero")

    if any(mark in source for mark in ".,"):
        raise ValueError(f"{text!r}: use whole numbers, like 1h30m rather than 1.5h")

    total_seconds = 0
    previous_unit: str | None = None
    position = 0
    while position < len(source):
        part = _PART.match(source, position)
        if part is None:
            raise ValueError(f"{text!r} is not a duration; write a number and a unit, {_EXAMPLES}")
        number, unit = part.groups()
        if not unit and part.end() == len(source):
            raise ValueError(f"{text!r} needs a unit after {number}: s, m, h or d ({_EXAMPLES})")
        if not unit:
            raise ValueError(f"{text!r} is not a duration; write a number and a unit, {_EXAMPLES}")
        if unit not in UNIT_SECONDS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}; use s, m, h or d ({_EXAMPLES})")
        # Largest unit first, each once: "30m1h" or "1h1h" is more likely a typo than intent.
        if previous_unit is not None and UNIT_SECONDS[unit] >= UNIT_SECONDS[previous_unit]:
            raise ValueError(f"{text!r}: write each unit once, largest first (like 1d2h or 1h30m)")
        total_seconds += int(number) * UNIT_SECONDS[unit]
        previous_unit = unit
        position = part.end()

    if total_seconds == 0:
        raise ValueError(f"duration {text!r} is zero; it must be longer than zero")
    try:
        return timedelta(seconds=total_seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(duration: timedelta) -> str:
    """The canonical text of a whole-second duration: ``5400s`` -> ``1h30m``.

    ``parse_duration(format_duration(d)) == d`` for every positive whole-second ``d``.
    """
    remaining = int(duration.total_seconds())
    if remaining <= 0 or duration != timedelta(seconds=remaining):
        raise ValueError(f"cannot format {duration!r}: only positive whole seconds are durations")
    parts: list[str] = []
    for unit, seconds in UNIT_SECONDS.items():
        count, remaining = divmod(remaining, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)

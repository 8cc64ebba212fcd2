"""Which stretch of time a digest covers, in the rules' time zone. Pure functions."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.model import Period
from rules.schedule import WeeklyTime

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def _utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def week(label: str, zone: ZoneInfo) -> Period:
    """`2026-W47`: Monday 00:00 to the next Monday 00:00, local time."""
    found = _ISO_WEEK.match(label)
    if not found:
        raise ValueError(f"{label!r} is not an ISO week like 2026-W47")
    try:
        monday = date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError as error:
        raise ValueError(f"{label!r} is not an ISO week: {error}") from None
    return Period(
        label=label,
        since=_utc(monday, zone),
        until=_utc(monday + timedelta(days=7), zone),
        timezone=str(zone),
    )


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    year, number, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{number:02d}"


def last_full_week(now: datetime, zone: ZoneInfo) -> Period:
    """The latest Monday-to-Sunday week that has ended by `now`."""
    return week(week_of(now.astimezone(zone) - timedelta(days=7), zone), zone)


def dates(since: date, until: date, zone: ZoneInfo) -> Period:
    """From `since` 00:00 up to, not including, `until` 00:00, local time."""
    if until <= since:
        raise ValueError("--until must be after --since")
    return Period(
        label=f"{since.isoformat()}..{until.isoformat()}",
        since=_utc(since, zone),
        until=_utc(until, zone),
        timezone=str(zone),
    )


def latest_run(now: datetime, schedule: WeeklyTime, zone: ZoneInfo) -> datetime:
    """The most recent moment at or before `now` when the digest was due."""
    local = now.astimezone(zone)
    days_back = (local.weekday() - schedule.weekday) % 7
    day = local.date() - timedelta(days=days_back)
    due = datetime.combine(day, time(schedule.hour, schedule.minute), tzinfo=zone)
    if due > local:
        due -= timedelta(days=7)
    return due.astimezone(ZoneInfo("UTC"))

"""Digest periods in the rules' time zone."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from digest import periods
from rules.schedule import parse_weekly_time

BERLIN = ZoneInfo("Europe/Berlin")


def test_an_iso_week_runs_monday_to_monday_local_time() -> None:
    week = periods.week("2026-W47", BERLIN)
    assert week.since == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # Mon 00:00 CET
    assert week.until == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO week"):
        periods.week("2026-47", BERLIN)
    with pytest.raises(ValueError):
        periods.week("2026-W60", BERLIN)


def test_the_last_full_week_before_a_monday_morning() -> None:
    monday_9am = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert periods.last_full_week(monday_9am, BERLIN).label == "2026-W47"
    sunday_night = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # still W47 in Berlin
    assert periods.last_full_week(sunday_night, BERLIN).label == "2026-W46"


def test_date_ranges_exclude_the_until_day() -> None:
    period = periods.dates(date(2026, 11, 1), date(2026, 11, 8), BERLIN)
    assert period.label == "2026-11-01..2026-11-08"
    assert (period.until - period.since).days == 7
    with pytest.raises(ValueError):
        periods.dates(date(2026, 11, 8), date(2026, 11, 1), BERLIN)


def test_latest_run_of_a_weekly_schedule() -> None:
    schedule = parse_weekly_time("mon 09:00")
    before = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)  # Mon 08:59 Berlin
    after = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Mon 09:00 Berlin
    assert periods.latest_run(before, schedule, BERLIN) == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    assert periods.latest_run(after, schedule, BERLIN) == after

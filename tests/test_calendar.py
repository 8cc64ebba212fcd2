"""Working-time arithmetic (rules/calendar.py): pure functions, the clock given as instants."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import escalation, load_rules_text
from rules.calendar import (
    Calendar,
    add_working_time,
    is_working_time,
    next_working_instant,
    parse_days,
)

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Calendar(
    days=parse_days("mon-fri"),
    start=time(9, 0),
    end=time(18, 0),
    timezone="Europe/Berlin",
    holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_time_inside_one_working_day_is_plain_addition() -> None:
    assert add_working_time(OFFICE, berlin(2026, 11, 23, 10, 0), timedelta(minutes=30)) == (
        berlin(2026, 11, 23, 10, 30)
    )


def test_a_step_started_late_on_friday_carries_over_to_monday_morning() -> None:
    friday = berlin(2026, 11, 20, 17, 55)
    assert add_working_time(OFFICE, friday, timedelta(minutes=30)) == berlin(2026, 11, 23, 9, 25)


def test_a_step_spanning_a_weekend_and_two_holidays() -> None:
    # Wednesday 23 Dec 17:40 + 2 h: 20 min on Wednesday, Thursday and Friday are holidays,
    # then the weekend; the remaining 1 h 40 min on Monday 28 Dec.
    start = berlin(2026, 12, 23, 17, 40)
    assert add_working_time(OFFICE, start, timedelta(hours=2)) == berlin(2026, 12, 28, 10, 40)


def test_time_before_opening_starts_counting_at_opening() -> None:
    early = berlin(2026, 11, 23, 6, 0)
    assert add_working_time(OFFICE, early, timedelta(minutes=10)) == berlin(2026, 11, 23, 9, 10)


def test_spring_forward_weekend_keeps_local_office_hours() -> None:
    # Clocks go forward on Sunday 29 March 2026: Friday closes at 18:00 CET (17:00 UTC),
    # Monday opens at 09:00 CEST (07:00 UTC); only working time counts.
    friday = berlin(2026, 3, 27, 17, 30)
    due = add_working_time(OFFICE, friday, timedelta(hours=1))
    assert due == berlin(2026, 3, 30, 9, 30)
    assert due.utcoffset() == timedelta(0) and due == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)


def test_fall_back_weekend_keeps_local_office_hours() -> None:
    friday = berlin(2026, 10, 23, 17, 0)  # clocks go back on Sunday 25 October 2026
    assert add_working_time(OFFICE, friday, timedelta(hours=2)) == berlin(2026, 10, 26, 10, 0)


def test_a_window_that_contains_the_clock_change_counts_real_time() -> None:
    # A night calendar 01:00-04:00 on the spring-forward day lasts 2 real hours.
    night = Calendar(days=parse_days("sun"), start=time(1), end=time(4), timezone="Europe/Berlin")
    start = berlin(2026, 3, 29, 1, 0)
    assert add_working_time(night, start, timedelta(hours=2)) == datetime(
        2026, 3, 29, 2, 0, tzinfo=UTC
    )  # 04:00 CEST
    assert add_working_time(night, start, timedelta(hours=3)) == berlin(2026, 4, 5, 2, 0)


def test_next_working_instant() -> None:
    saturday = berlin(2026, 11, 21, 12, 0)
    assert next_working_instant(OFFICE, saturday) == berlin(2026, 11, 23, 9, 0)
    inside = berlin(2026, 11, 23, 12, 0)
    assert next_working_instant(OFFICE, inside) == inside
    assert next_working_instant(OFFICE, berlin(2026, 12, 23, 18, 30)) == berlin(2026, 12, 28, 9)


def test_working_days_ranges_and_lists() -> None:
    assert parse_days("mon-fri") == {0, 1, 2, 3, 4}
    assert parse_days("fri-mon") == {4, 5, 6, 0}
    assert parse_days("mon,wed, fri") == {0, 2, 4}
    with pytest.raises(ValueError, match="unknown weekday"):
        parse_days("mon-fry")


def test_a_calendar_crossing_midnight_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="end after they start"):
        Calendar(days=parse_days("mon-fri"), start=time(22), end=time(6))


CHAIN_WITH_HOURS = """\
timezone: Europe/Berlin
routes:
  - name: ap
    match: {workflow: ap}
    owner: {channel: C0AP}
    hours: {days: mon-fri, from: "09:00", to: "18:00"}
    holidays: [2026-12-24, 2026-12-25]
    escalation:
      - {after: 30m, to: [U0MANAGER]}
      - {after: 2h, to: [S0LEADS]}
"""


def test_the_chain_of_a_route_with_hours_fires_only_in_working_time() -> None:
    route = load_rules_text(CHAIN_WITH_HOURS).rules.routes[0]
    assert route.timezone == "Europe/Berlin"  # the file's zone, frozen into the route
    first = escalation.first_deadline(route, berlin(2026, 12, 23, 17, 10))
    assert first is not None and first.due_at == berlin(2026, 12, 23, 17, 40)
    second = escalation.deadline_after(route, first.step_index, first.due_at)
    assert second is not None and second.due_at == berlin(2026, 12, 28, 10, 40)
    exhausted = escalation.deadline_after(route, second.step_index, second.due_at)
    assert exhausted is not None and exhausted.exhaust
    assert exhausted.due_at == berlin(2026, 12, 28, 12, 40)


# --- properties ---------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
durations = st.integers(min_value=0, max_value=7 * 24 * 3600).map(lambda s: timedelta(seconds=s))
calendars = st.builds(
    lambda days, start, length, zone: Calendar(
        days=frozenset(days),
        start=time(start // 60, start % 60),
        end=time(min(23 * 60 + 59, start + length) // 60, min(23 * 60 + 59, start + length) % 60),
        timezone=zone,
        holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)}),
    ),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 22 * 60),
    st.integers(1, 12 * 60),
    st.sampled_from(["Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata"]),
)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, durations)
def test_the_result_is_always_working_time(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    assert is_working_time(calendar, add_working_time(calendar, start, duration))


@settings(max_examples=100, deadline=None)
@given(calendars, instants, durations, durations)
def test_adding_working_time_is_monotonic_and_additive(
    calendar: Calendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    shorter = add_working_time(calendar, start, min(first, second))
    longer = add_working_time(calendar, start, max(first, second))
    assert start <= shorter <= longer
    # Adding in two parts lands where adding at once does.
    in_two = add_working_time(calendar, add_working_time(calendar, start, first), second)
    assert in_two == add_working_time(calendar, start, first + second)


@settings(max_examples=100, deadline=None)
@given(calendars, instants)
def test_no_working_time_is_skipped_before_the_next_working_instant(
    calendar: Calendar, start: datetime
) -> None:
    opening = next_working_instant(calendar, start)
    assert is_working_time(calendar, opening) and opening >= start
    assert add_working_time(calendar, start, timedelta(0)) == opening

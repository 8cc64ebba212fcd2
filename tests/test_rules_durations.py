from datetime import timedelta

import pytest

from rules.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("120m", timedelta(hours=2)),
    ],
)
def test_parses_units_and_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0m", "zero"),
        ("0h0m", "zero"),
        ("-5m", "negative"),
        ("5x", "unknown unit 'x'"),
        ("2 weeks", "unknown unit 'weeks'"),
        ("30", "needs a unit"),
        ("m30", "not a duration"),
        ("1.5h", "whole numbers"),
        ("30 m x", "not a duration"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("99999999999999d", "too long"),
    ],
)
def test_rejects_with_a_message_that_says_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration(text)


def test_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        parse_duration(90)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_formats_canonically_and_round_trips(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text
    assert parse_duration(format_duration(duration)) == duration


@pytest.mark.parametrize("duration", [timedelta(0), timedelta(seconds=-1), timedelta(seconds=1.5)])
def test_format_refuses_what_parse_would_never_produce(duration: timedelta) -> None:
    with pytest.raises(ValueError):
        format_duration(duration)

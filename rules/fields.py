"""Field types of the rules file: Slack IDs, durations, reasons, time zones.

Each type carries its own plain-language error message, so the loader can show
``must be a Slack channel ID like C0123ABCD`` rather than a regular expression.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

from rules.durations import format_duration, parse_duration
from rules.located_errors import problem_error, require_unique
from rules.schedule import parse_weekly_time

CHANNEL_ID_PATTERN = re.compile(r"^[CG][A-Z0-9]{2,}$")
USER_ID_PATTERN = re.compile(r"^[UW][A-Z0-9]{2,}$")
REASON_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME_LIKE = re.compile(r"^[#@]?[a-z][a-z._-]*$")  # "general", "#ops", "@alice": names, not IDs
REASON_MAX_LENGTH = 75  # Slack's limit for the text of a select option


def _slack_id(
    value: str, *, pattern: re.Pattern[str], what: str, example: str, found_in: str
) -> str:
    if pattern.fullmatch(value):
        return value
    hint = ""
    if value.startswith(("#", "@")) or _NAME_LIKE.fullmatch(value):
        hint = f", not a name (find the ID in {found_in})"
    elif pattern.fullmatch(value.upper()):
        hint = "; Slack IDs are upper-case"
    raise problem_error(f"slack_{what}_id", f"must be a Slack {what} ID like {example}{hint}")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        if value <= timedelta(0) or value.microseconds:
            raise problem_error("duration", "must be a positive whole number of seconds")
        return value
    if not isinstance(value, str):
        # YAML reads `after: 90` (and even `after: 1:30`) as a number: ask for the unit.
        raise problem_error("duration_type", "must be a duration with a unit, like 90s or 30m")
    try:
        return parse_duration(value)
    except ValueError as error:
        raise problem_error("duration", str(error)) from None


def _reason(value: str) -> str:
    if len(value) > REASON_MAX_LENGTH:
        raise problem_error("reject_reason", f"must be at most {REASON_MAX_LENGTH} characters")
    if not REASON_PATTERN.fullmatch(value):
        raise problem_error(
            "reject_reason",
            "must be a short lower-case slug like wrong_amount (letters, digits, _ and -)",
        )
    return value


def _weekly_schedule(value: str) -> str:
    try:
        return str(parse_weekly_time(value))  # canonical form: "mon 09:00"
    except ValueError as error:
        raise problem_error("digest_schedule", str(error)) from None


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ", like Europe/Berlin or UTC"
        raise problem_error("time_zone", f"must be an IANA time zone name{hint}") from None
    return value


ChannelId = Annotated[
    str,
    AfterValidator(
        partial(
            _slack_id,
            pattern=CHANNEL_ID_PATTERN,
            what="channel",
            example="C0123ABCD",
            found_in="the channel's details",
        )
    ),
]
UserId = Annotated[
    str,
    AfterValidator(
        partial(
            _slack_id,
            pattern=USER_ID_PATTERN,
            what="user",
            example="U0123ABCD",
            found_in="the person's Slack profile",
        )
    ),
]
# Parsed from "30m"; written back as the same canonical text in JSON, so a route
# frozen into the database reads back unchanged.
Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
RejectReason = Annotated[str, AfterValidator(_reason)]
WeeklySchedule = Annotated[str, AfterValidator(_weekly_schedule)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
NonEmptyText = Annotated[str, Field(min_length=1)]

UserIds = Annotated[
    list[UserId],
    AfterValidator(partial(require_unique, kind="duplicate_user", message="is listed twice")),
]
RejectReasons = Annotated[
    list[RejectReason],
    Field(min_length=1),
    AfterValidator(partial(require_unique, kind="duplicate_reason", message="is listed twice")),
]

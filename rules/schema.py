"""The rules file as pydantic models: what may be written, and what it means.

Every model forbids unknown keys, so a typo such as ``ownr:`` is an error rather
than a silently ignored setting. Models are frozen: a route is a value that
items snapshot (``model_dump(mode="json")``) and read back unchanged.
"""

from __future__ import annotations

import re
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from rules.calendar import Calendar, parse_clock, parse_days
from rules.fields import (
    ChannelId,
    Duration,
    NonEmptyText,
    TimeZoneName,
    UserId,
    UserIds,
    WeeklySchedule,
)
from rules.located_errors import Problem, problem_error, raise_problems, require_unique
from rules.reasons import RejectReasons, default_reasons, label_of, reason_id
from rules.route_set import route_set_problems
from rules.schedule import WeeklyTime, parse_weekly_time

OnExhausted = Literal["expire", "reject", "keep"]


class _RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_RulesModel):
    """Which items a route takes: exact names or fnmatch globs, case-sensitive."""

    workflow: NonEmptyText
    agent: NonEmptyText = "*"


class Owner(_RulesModel):
    channel: ChannelId
    users: UserIds = Field(default_factory=list)  # empty: anyone in the channel may decide


GROUP_ID_PATTERN = re.compile(r"^S[A-Z0-9]{2,}$")
_check_user_id = get_args(UserId)[1].func  # the user ID check of rules.fields


def _target(value: str) -> str:
    """A person (U…, W…) or a Slack user group (S…, resolved when the step fires)."""
    if value[:1] == "S":
        if GROUP_ID_PATTERN.fullmatch(value):
            return value
        raise problem_error("slack_group_id", "must be a Slack user group ID like S0123ABCD")
    try:
        return str(_check_user_id(value))
    except PydanticCustomError as error:
        raise problem_error(
            error.type, f"{error.message()} (or a user group ID like S0123ABCD)"
        ) from None


def _clock_time(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 readers turn 09:00 into 540; ask for quotes rather than guess.
        raise problem_error("clock_time", 'write the time in quotes, like "09:00"')
    if not isinstance(value, str):
        raise problem_error("clock_time", 'must be a time of day like "09:00"')
    try:
        return parse_clock(value).strftime("%H:%M")
    except ValueError as error:
        raise problem_error("clock_time", str(error)) from None


def _days(value: Any) -> str:
    if not isinstance(value, str):
        raise problem_error("working_days", "must be weekdays like mon-fri or mon,wed,fri")
    try:
        parse_days(value)
    except ValueError as error:
        raise problem_error("working_days", str(error)) from None
    return value.strip().lower()


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
ClockDays = Annotated[str, BeforeValidator(_days)]
Holidays = Annotated[
    list[date],
    AfterValidator(partial(require_unique, kind="duplicate_holiday", message="is listed twice")),
]
EscalationTargets = Annotated[
    list[Annotated[str, AfterValidator(_target)]],
    Field(min_length=1),
    AfterValidator(partial(require_unique, kind="duplicate_user", message="is listed twice")),
]


class EscalationStep(_RulesModel):
    after: Duration  # waited from the previous step (or from posting, for the first)
    to: EscalationTargets  # people (U…) and user groups (S…), notified and allowed to decide
    channel: ChannelId | None = None  # None: notify `to` by direct message
    remind: Duration | None = None  # remind them at this interval until the next step


class Hours(_RulesModel):
    """When a route's people are at work: steps count only this time, and fire in it."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    days: ClockDays = "mon-fri"
    start: ClockTime = Field(alias="from")
    end: ClockTime = Field(alias="to")

    @model_validator(mode="after")
    def _same_day(self) -> Hours:
        if parse_clock(self.start) >= parse_clock(self.end):
            # Reported at `to`, the key to change.
            message = (
                f"working hours from {self.start} to {self.end} cross midnight or are empty; "
                "`to` must be later than `from` on the same day"
            )
            raise_problems("Hours", [Problem(("to",), "hours_cross_midnight", message)])
        return self


class Route(_RulesModel):
    # Field order matters: validators below read earlier fields from `info.data`.
    name: NonEmptyText
    match: Match
    auto_approve_at: float | None = Field(default=None, gt=0, le=1, strict=True)
    owner: Owner
    escalation: list[EscalationStep] = Field(default_factory=list)
    repeat: int = Field(default=0, ge=0, strict=True)
    on_exhausted: OnExhausted = "expire"
    reject_reasons: RejectReasons = Field(default_factory=default_reasons)
    approvals_required: int = Field(default=1, ge=1, strict=True)
    audit_sample: float = Field(default=0.0, ge=0, le=1, strict=True)
    # Working hours (issue 13): the chain counts only working time in `timezone` (default:
    # the file's, written into the route when it is loaded, so items keep their calendar).
    hours: Hours | None = None
    timezone: TimeZoneName | None = None
    holidays: Holidays = Field(default_factory=list)
    remind: Duration | None = None  # remind the people who may decide at this interval

    def reason_ids(self) -> list[str]:
        """The reject reasons' ids: what a rejection records and the API returns."""
        return [reason_id(entry) for entry in self.reject_reasons]

    def reason_label(self, reason: str) -> str:
        """What people read for a reason: its `label`, else the slug humanized."""
        return label_of(self.reject_reasons, reason)

    @field_validator("timezone", "holidays")
    @classmethod
    def _needs_hours(cls, value: Any, info: ValidationInfo) -> Any:
        # `hours` missing from info.data: it was given but invalid, and is reported there.
        if value and "hours" in info.data and info.data["hours"] is None:
            raise problem_error(
                "calendar_without_hours",
                f"`{info.field_name}` only applies to working hours; add `hours:` to this route",
            )
        return value

    def calendar(self) -> Calendar | None:
        """The route's working calendar (None: steps count wall-clock time)."""
        if self.hours is None:
            return None
        return Calendar(
            days=parse_days(self.hours.days),
            start=parse_clock(self.hours.start),
            end=parse_clock(self.hours.end),
            timezone=self.timezone or "UTC",
            holidays=frozenset(self.holidays),
        )

    @field_validator("repeat")
    @classmethod
    def _repeat_needs_a_step(cls, repeat: int, info: ValidationInfo) -> int:
        if repeat > 0 and info.data.get("escalation") == []:
            raise problem_error(
                "repeat_without_escalation",
                "repeats the last escalation step, but this route has no escalation",
            )
        return repeat

    @field_validator("approvals_required")
    @classmethod
    def _enough_approvers(cls, required: int, info: ValidationInfo) -> int:
        owner = info.data.get("owner")
        # With no users listed anyone in the channel may approve, so any number can be met.
        if isinstance(owner, Owner) and owner.users and required > len(owner.users):
            raise problem_error(
                "too_few_approvers",
                f"needs {required} distinct approvers, but owner.users lists only "
                f"{len(owner.users)}",
            )
        return required


class DigestConfig(_RulesModel):
    channel: ChannelId
    schedule: WeeklySchedule = "mon 09:00"  # weekday and 24-hour time, in the file's timezone

    @property
    def weekly_time(self) -> WeeklyTime:
        return parse_weekly_time(self.schedule)

    @property
    def weekday(self) -> int:
        """0 = Monday, as ``datetime.weekday()``."""
        return self.weekly_time.weekday

    @property
    def hour(self) -> int:
        return self.weekly_time.hour

    @property
    def minute(self) -> int:
        return self.weekly_time.minute


class AlertsConfig(_RulesModel):
    """Where hitl reports what people must act on (undeliverable items, drift alarms)."""

    channel: ChannelId | None = None  # None: the digest channel
    drift: bool = Field(default=True, strict=True)  # the hourly drift alarm on or off


class RulesFile(_RulesModel):
    timezone: TimeZoneName = "UTC"
    digest: DigestConfig | None = None
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    routes: Annotated[list[Route], Field(min_length=1)]  # first match wins
    fallback: str | None = None  # route used when none matches; None: refuse the item

    @property
    def alerts_channel(self) -> str | None:
        """`alerts.channel`, else the digest channel, else nowhere."""
        return self.alerts.channel or (self.digest.channel if self.digest else None)

    @model_validator(mode="wrap")
    @classmethod
    def _check_routes_together(
        cls, data: Any, handler: ModelWrapValidatorHandler[RulesFile]
    ) -> RulesFile:
        problems = route_set_problems(data) if isinstance(data, dict) else []
        if not problems:
            return handler(data)
        try:
            handler(data)
        except ValidationError as field_errors:
            raise_problems(cls.__name__, problems, earlier=field_errors)
        raise_problems(cls.__name__, problems)

    @model_validator(mode="after")
    def _routes_keep_their_time_zone(self) -> RulesFile:
        """A route with working hours gets the file's time zone written in, so the route an
        item freezes holds its whole calendar."""
        if any(route.hours and route.timezone is None for route in self.routes):
            routes = [
                route.model_copy(update={"timezone": self.timezone})
                if route.hours and route.timezone is None
                else route
                for route in self.routes
            ]
            object.__setattr__(self, "routes", routes)
        return self

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def route_named(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)

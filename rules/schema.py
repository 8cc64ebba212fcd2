"""The rules file as pydantic models: what may be written, and what it means.

Every model forbids unknown keys, so a typo such as ``ownr:`` is an error rather
than a silently ignored setting. Models are frozen: a route is a value that
items snapshot (``model_dump(mode="json")``) and read back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
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

from rules.fields import (
    ChannelId,
    Duration,
    NonEmptyText,
    RejectReasons,
    TimeZoneName,
    UserIds,
    WeeklySchedule,
)
from rules.located_errors import problem_error, raise_problems
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


class EscalationStep(_RulesModel):
    after: Duration  # waited from the previous step (or from posting, for the first)
    to: Annotated[UserIds, Field(min_length=1)]
    channel: ChannelId | None = None  # None: notify `to` by direct message


class Route(_RulesModel):
    # Field order matters: validators below read earlier fields from `info.data`.
    name: NonEmptyText
    match: Match
    auto_approve_at: float | None = Field(default=None, gt=0, le=1, strict=True)
    owner: Owner
    escalation: list[EscalationStep] = Field(default_factory=list)
    repeat: int = Field(default=0, ge=0, strict=True)
    on_exhausted: OnExhausted = "expire"
    reject_reasons: RejectReasons = Field(default_factory=lambda: ["other"])
    approvals_required: int = Field(default=1, ge=1, strict=True)
    audit_sample: float = Field(default=0.0, ge=0, le=1, strict=True)

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

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def route_named(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)

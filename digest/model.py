"""The digest's shape: the JSON `hitl digest --format json` prints, and what Markdown and
Block Kit are rendered from. Version 1; fields are only ever added (docs/digest.md)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class Period(BaseModel):
    label: str = Field(description="ISO week like 2026-W47, or since..until dates")
    since: datetime = Field(description="start, inclusive (UTC)")
    until: datetime = Field(description="end, exclusive (UTC)")
    timezone: str


class Outcomes(BaseModel):
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    expired: int = 0
    cancelled: int = 0
    auto_approved: int = 0
    pending: int = 0


class Figures(BaseModel):
    volume: int = 0
    auto_approved_share: float | None = Field(None, description="of volume, 0..1")
    human_share: float | None = Field(None, description="of volume needing a person, 0..1")
    outcomes: Outcomes = Outcomes()
    rejection_rate: float | None = Field(None, description="rejected / decided by a person")
    decision_minutes_median: float | None = None
    decision_minutes_p90: float | None = None
    waited_past_first_deadline: int = 0
    escalated_items: int = 0
    escalation_steps: int = 0
    waiting_hours: float = 0.0


class Change(BaseModel):
    """This period against the previous one of the same length."""

    volume: int
    volume_pct: float | None
    rejection_rate_points: float | None = Field(None, description="percentage points")
    decision_minutes_median: float | None
    escalated_items: int


class GroupFigures(BaseModel):
    name: str
    current: Figures
    previous: Figures
    change: Change


class Example(BaseModel):
    item_id: str
    title: str
    note: str | None = None
    link: str | None = Field(None, description="Slack permalink when the workspace is known")


class RejectionGroup(BaseModel):
    route: str
    reason: str
    count: int
    previous_count: int
    trend: Literal["new", "up", "down", "flat"]
    share_of_route_rejections: float
    waiting_hours: float
    examples: list[Example]


class RecurringEdit(BaseModel):
    workflow: str
    kind: Literal["deleted", "added", "replaced"]
    text: str = Field(description="the normalized change, as grouped")
    before: str | None
    after: str | None
    items: int
    edited_items: int
    share_of_edits: float
    examples: list[Example]


class RecurringFieldEdit(BaseModel):
    """A field of structured items reviewers keep changing (digest/field_edits.py)."""

    workflow: str
    field: str = Field(description="the field's key")
    kind: Literal["corrected", "switched_on", "switched_off", "cleared", "filled"]
    items: int
    edited_items: int = Field(description="edited structured items of the workflow")
    share_of_edits: float
    typical_before: str = Field(description="the most frequent change's old value, as shown")
    typical_after: str = Field(description="and its new value")
    typical_items: int = Field(description="items that made exactly the typical change")
    examples: list[Example]


class ReviewerWait(BaseModel):
    user: str
    decided: int
    average_minutes: float
    longest_minutes: float


class EscalatedOwner(BaseModel):
    route: str
    owners: list[str]
    channel: str
    items_with_deadline: int
    escalated: int
    share: float
    waiting_hours: float = Field(description="creation to decision, over the escalated items")
    decided_by_escalation: dict[str, int]


class Friction(BaseModel):
    rank: int
    kind: Literal["rejection_reason", "recurring_edit", "escalated_owner", "rising_rejections"]
    title: str
    rejections: int
    reworked: int = Field(description="items a person had to edit")
    escalations: int
    waiting_hours: float
    score: float = Field(description="rejections + reworked + escalations + waiting hours")


class Suggestion(BaseModel):
    kind: Literal[
        "auto_approve_earned", "auto_approve_too_low", "change_owner", "rejections_rising"
    ]
    route: str | None = None
    workflow: str | None = None
    message: str
    evidence: dict[str, Any]
    rules_change: str | None = Field(
        None,
        description="the change as rules-file YAML: the route's name and changed keys only; "
        "null when the suggestion is no rules change",
    )
    replay_command: str | None = Field(
        None,
        description="`hitl rules replay` of the proposed rules file over the evidence window "
        "(placeholder file name unless `proposal_file` is set)",
    )
    proposal_file: str | None = Field(
        None, description="the proposed rules file `hitl digest --proposals DIR` wrote"
    )


class DriftAlert(BaseModel):
    """A drift alarm raised in the period: a workflow's rejection or edit rate rose."""

    id: str
    workflow: str
    metric: str = Field(description="rejection | edit")
    dimension: str = Field(description="overall | model | prompt_version")
    value: str | None = Field(description="the model or prompt version, for those dimensions")
    began_at: datetime = Field(description="the hour the rise began")
    detected_at: datetime
    baseline_rate: float
    recent_rate: float
    status: str = Field(description="open | closed")


class Digest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    period: Period
    previous_period: Period
    generated_at: datetime
    totals: GroupFigures
    routes: list[GroupFigures]
    workflows: list[GroupFigures]
    top_friction: list[Friction]
    rejections: list[RejectionGroup]
    recurring_edits: list[RecurringEdit]
    recurring_field_edits: list[RecurringFieldEdit] = Field(default_factory=list)
    reviewer_waits: list[ReviewerWait]
    escalated_owners: list[EscalatedOwner]
    suggestions: list[Suggestion]
    drift_alerts: list[DriftAlert] = Field(
        default_factory=list, description="detected in the period, oldest first"
    )

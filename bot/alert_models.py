"""What `GET /v1/alerts` answers: drift alerts, one per episode of a workflow's rising
rejection or edit rate (docs/api.md, "Drift alerts").

Shaped like the items of bot/api_models.py: timestamps in UTC with milliseconds and `Z`,
closed sets of values as literals, a description and an example on every field.
"""

from typing import Literal

from pydantic import BaseModel, Field

from bot.api_models import UtcTimestamp
from storage.models import DriftAlert

Metric = Literal["rejection", "edit"]
Dimension = Literal["overall", "model", "prompt_version"]

_DIMENSION = (
    "Which series of the workflow rose: `overall` (all its decisions), or one "
    "`metadata.model` or `metadata.prompt_version` (named in `value`)."
)
_VALUE = "The model or prompt version, for those dimensions; null for `overall`."
_STATISTIC = (
    "The CUSUM statistic (a log-likelihood ratio of `the rate doubled` against the "
    "baseline) when the alert was raised."
)


class BaselineOut(BaseModel):
    """The rate the recent decisions were tested against."""

    rate: float = Field(
        description="The rate over the 28 days before the last week, floored at 0.01.",
        examples=[0.08],
    )
    decided: int = Field(
        description="How many human decisions that rate is of (at least 200).", examples=[1240]
    )


class RecentOut(BaseModel):
    """The decisions since the rise began."""

    rate: float = Field(description="`events` / `decided`.", examples=[0.21])
    decided: int = Field(description="Human decisions since `began_at`.", examples=[340])
    events: int = Field(
        description="Rejections (metric `rejection`) or edits (metric `edit`) among them.",
        examples=[71],
    )


class EvidenceOut(BaseModel):
    """One series that rose together with the alert's own (its own included)."""

    dimension: Dimension = Field(description=_DIMENSION, examples=["prompt_version"])
    value: str | None = Field(description=_VALUE, examples=["v13"])
    metric: Metric = Field(description="The rate that rose.", examples=["rejection"])
    statistic: float = Field(description=_STATISTIC, examples=[15.2])
    baseline_rate: float = Field(description="The series' baseline rate.", examples=[0.08])
    recent_rate: float = Field(description="Its rate since `began_at`.", examples=[0.21])
    recent_decided: int = Field(description="Its human decisions since `began_at`.", examples=[340])
    recent_events: int = Field(
        description="Its rejections or edits since `began_at`.", examples=[71]
    )
    began_at: UtcTimestamp = Field(description="The start of the hour its rise began.")
    own_baseline: bool = Field(
        default=True,
        description="False when the series had too little history of its own (a new "
        "model or prompt_version) and was tested against its workflow's baseline rate.",
        examples=[False],
    )


class AlertOut(BaseModel):
    """One drift episode: a significant rise of a workflow's rejection or edit rate."""

    id: str = Field(
        description="hitl's id for the alert.", examples=["al_01JD3V6Z7W9X8Y7Z6A5B4C3D2E"]
    )
    workflow: str = Field(description="The workflow whose rate rose.", examples=["ap-invoices"])
    metric: Metric = Field(
        description="`rejection` (rejected / decided) or `edit` (edited / decided), over "
        "human decisions only.",
        examples=["rejection"],
    )
    dimension: Dimension = Field(description=_DIMENSION, examples=["prompt_version"])
    value: str | None = Field(description=_VALUE, examples=["v13"])
    status: Literal["open", "closed"] = Field(
        description="`open` while the rise goes on (no second alert is raised for it); "
        "`closed` once it ended. A later rise is a new alert.",
        examples=["open"],
    )
    began_at: UtcTimestamp = Field(description="The start of the hour the rise began.")
    detected_at: UtcTimestamp = Field(description="When hitl raised the alert.")
    closed_at: UtcTimestamp | None = Field(
        description="When the rise was over; null while open.", examples=[None]
    )
    baseline: BaselineOut = Field(description="The rate before the rise.")
    recent: RecentOut = Field(description="The decisions since `began_at`.")
    statistic: float = Field(description=_STATISTIC, examples=[15.2])
    threshold: float = Field(
        description="The statistic at which an alert is raised: ln(10^6), about one false "
        "alarm in a million decisions per series.",
        examples=[13.8155],
    )
    evidence: list[EvidenceOut] = Field(
        description="Every series of the workflow whose same rate was rising significantly "
        "when the alert was raised, the alert's own included."
    )
    examples: list[str] = Field(
        description="Ids of a few items decided during the rise (for `GET /v1/reviews/{id}`).",
        examples=[["rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2E"]],
    )
    channel: str | None = Field(
        description="The Slack channel the alert was posted to; null when none is set.",
        examples=["C0DIGEST"],
    )

    @classmethod
    def of(cls, alert: DriftAlert) -> "AlertOut":
        return cls(
            id=alert.id,
            workflow=alert.workflow,
            metric=alert.metric,
            dimension=alert.dimension,
            value=alert.value,
            status=alert.status,
            began_at=alert.began_at,
            detected_at=alert.detected_at,
            closed_at=alert.closed_at,
            baseline=BaselineOut(rate=alert.baseline_rate, decided=alert.baseline_decided),
            recent=RecentOut(
                rate=alert.recent_rate, decided=alert.recent_decided, events=alert.recent_events
            ),
            statistic=alert.statistic,
            threshold=alert.threshold,
            evidence=[EvidenceOut.model_validate(entry) for entry in alert.evidence],
            examples=list(alert.examples),
            channel=alert.channel,
        )


class AlertListOut(BaseModel):
    """A page of drift alerts (`GET /v1/alerts`), newest detected first."""

    alerts: list[AlertOut] = Field(description="At most `limit` alerts, newest first.")
    next_cursor: str | None = Field(
        description="Send as `cursor` (with the same filters) for the next page; null on the "
        "last page. Opaque: an edited cursor is refused with 422.",
        examples=["q1Xk…"],
    )

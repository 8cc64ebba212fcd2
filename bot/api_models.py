"""The agent API's boundary: what agents send and what they get back (SPEC, "HTTP routes")."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from storage.models import Decision, ReviewItem

MAX_OUTPUT_CHARS = 100_000


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200)
    url: AnyHttpUrl

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if url.scheme not in ("http", "https"):
            raise ValueError("must be an http or https URL")
        if len(str(url)) > 2000:
            raise ValueError("must be at most 2000 characters")
        return url


class ReviewRequest(BaseModel):
    """`POST /v1/reviews`. Unknown fields are refused, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    workflow: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")
    title: str = Field(min_length=1, max_length=1000)
    output: str = Field(min_length=1, max_length=MAX_OUTPUT_CHARS)
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    context: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=20)
    external_id: str | None = Field(None, min_length=1, max_length=200)
    callback_url: AnyHttpUrl | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("context")
    @classmethod
    def _context_size(cls, context: dict[str, Any]) -> dict[str, Any]:
        if len(context) > 50:
            raise ValueError("at most 50 context fields")
        for key, value in context.items():
            if not key or len(key) > 100:
                raise ValueError("context keys must be 1 to 100 characters")
            if isinstance(value, str) and len(value) > 2000:
                raise ValueError(f"context value {key!r} is over 2000 characters")
        return context

    @field_validator("callback_url")
    @classmethod
    def _callback_http(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if url is not None and url.scheme not in ("http", "https"):
            raise ValueError("must be an http or https URL")
        return url


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class DecisionOut(BaseModel):
    action: Literal["approve", "edit", "reject", "auto_approve", "cancel", "expire"]
    by: str
    at: datetime
    reason: str | None
    note: str | None


_ACTION_OF_STATUS = {
    "approved": "approve",
    "edited": "edit",
    "rejected": "reject",
    "auto_approved": "auto_approve",
    "cancelled": "cancel",
    "expired": "expire",
}


class ReviewOut(BaseModel):
    """An item and its decision: the body of GET, of POST answers and of callbacks."""

    id: str
    status: Literal[
        "pending", "approved", "edited", "rejected", "expired", "auto_approved", "cancelled"
    ]
    workflow: str
    route: str
    agent: str
    channel: str
    title: str
    confidence: float
    output: str
    final_output: str | None
    decision: DecisionOut | None
    escalation_level: int
    escalations: list[dict[str, Any]]
    external_id: str | None
    context: dict[str, Any]
    links: list[dict[str, Any]]
    metadata: dict[str, Any]
    callback_url: str | None
    callback_status: Literal["none", "pending", "delivered", "failed"]
    rules_version: str
    created_at: datetime
    deadline: datetime | None
    decided_at: datetime | None

    @classmethod
    def of(cls, item: ReviewItem, decision: Decision | None) -> "ReviewOut":
        return cls(
            id=item.id,
            status=item.status,  # type: ignore[arg-type]
            workflow=item.workflow,
            route=item.route,
            agent=item.agent,
            channel=item.channel,
            title=item.title,
            confidence=item.confidence,
            output=item.output,
            final_output=item.final_output,
            decision=_decision_out(decision),
            escalation_level=item.escalation_level,
            escalations=item.escalations,
            external_id=item.external_id,
            context=item.context,
            links=item.links,
            metadata=item.item_metadata,
            callback_url=item.callback_url,
            callback_status=item.callback_status,  # type: ignore[arg-type]
            rules_version=item.rules_version,
            created_at=item.created_at,
            deadline=item.deadline,
            decided_at=item.decided_at,
        )


def _decision_out(decision: Decision | None) -> DecisionOut | None:
    if decision is None:
        return None
    return DecisionOut(
        action=_ACTION_OF_STATUS[decision.status],  # type: ignore[arg-type]
        by=decision.by,
        at=decision.at,
        reason=decision.reason,
        note=decision.note,
    )


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    error: str
    message: str
    errors: list[FieldError] | None = None
    item: ReviewOut | None = None

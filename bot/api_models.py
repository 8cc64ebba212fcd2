"""The agent API's boundary: what agents send and what they get back (SPEC, "HTTP routes").

Types are strict: a JSON string is never read as a number, nor a boolean as a
confidence. Every field carries a description and an example, which the OpenAPI document
publishes for client generators and Swagger's "Try it out".
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
)

from storage.models import Decision, ReviewItem

MAX_OUTPUT_CHARS = 100_000


def format_timestamp(value: datetime) -> str:
    """Every timestamp the API and callbacks show: UTC, milliseconds, `Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str, when_used="always"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
            "description": "UTC, with milliseconds and `Z`.",
            "examples": ["2026-11-20T10:02:11.000Z"],
        }
    ),
]
ContextValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class Link(BaseModel):
    """A link shown under the item in Slack, with its real host next to its label."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(
        min_length=1, max_length=200, description="The label shown.", examples=["PDF"]
    )
    url: AnyHttpUrl = Field(
        description="An http or https URL, at most 2000 characters.",
        examples=["https://files.example.com/4471.pdf"],
    )

    @field_validator("url", mode="before")
    @classmethod
    def _url_is_text(cls, url: Any) -> Any:
        if not isinstance(url, str):
            raise ValueError("must be a string")
        return url

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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workflow": "ap-invoices",
                    "title": "Invoice 4471 from ACME, 12,400 EUR",
                    "output": "Booked to account 6300, cost centre 41, due 2026-12-01.",
                    "confidence": 0.62,
                    "context": {"vendor": "ACME GmbH", "amount": "12,400 EUR"},
                    "links": [{"text": "PDF", "url": "https://files.example.com/4471.pdf"}],
                    "external_id": "inv-4471",
                    "metadata": {"model": "gpt-x", "prompt_version": "v12"},
                }
            ]
        },
    )

    workflow: StrictStr = Field(
        min_length=1,
        max_length=200,
        pattern=r"^\S(.*\S)?$",
        description="The agent's workflow; the rules route items by it.",
        examples=["ap-invoices"],
    )
    title: StrictStr = Field(
        min_length=1,
        max_length=1000,
        description="One line saying what is to be reviewed.",
        examples=["Invoice 4471 from ACME, 12,400 EUR"],
    )
    output: StrictStr = Field(
        min_length=1,
        max_length=MAX_OUTPUT_CHARS,
        description="The agent's output that a person approves, edits or rejects.",
        examples=["Booked to account 6300, cost centre 41, due 2026-12-01."],
    )
    confidence: StrictFloat = Field(
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="The agent's confidence, a JSON number from 0 to 1 (not a string or a "
        "boolean). Routes may auto-approve at or above a threshold.",
        examples=[0.62],
    )
    context: dict[str, ContextValue] = Field(
        default_factory=dict,
        description="Up to 50 fields shown with the item: flat values only (string, number, "
        "boolean, null); keys 1 to 100 characters, strings at most 2000.",
        examples=[{"vendor": "ACME GmbH", "amount": "12,400 EUR"}],
    )
    links: list[Link] = Field(
        default_factory=list, max_length=20, description="Up to 20 links shown with the item."
    )
    external_id: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The agent's own id. Sending the same one again with the same body "
        "returns the existing item (200); with a different body, 409.",
        examples=["inv-4471"],
    )
    callback_url: AnyHttpUrl | None = Field(
        None,
        description="Where the final item is POSTed, signed per Standard Webhooks. Must be a "
        "public http(s) address (loopback, private, link-local and multicast are refused).",
        examples=["https://agent.example.com/hitl/decisions"],
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Any JSON the agent wants kept with the item (model, prompt version, "
        "cost…); returned as given. Nesting is limited to 32 levels for the whole body.",
        examples=[{"model": "gpt-x", "prompt_version": "v12", "cost_usd": 0.004}],
    )

    @field_validator("callback_url", mode="before")
    @classmethod
    def _callback_is_text(cls, url: Any) -> Any:
        if url is not None and not isinstance(url, str):
            raise ValueError("must be a string")
        return url

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
        if url is not None and len(str(url)) > 2000:
            raise ValueError("must be at most 2000 characters")
        return url


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr | None = Field(
        None,
        max_length=500,
        description="Why the agent withdraws the item; recorded as the decision's note.",
        examples=["The invoice was paid by another run."],
    )


class DecisionOut(BaseModel):
    action: Literal["approve", "edit", "reject", "auto_approve", "cancel", "expire"] = Field(
        description="What decided the item.", examples=["approve"]
    )
    by: str = Field(
        description="Who decided: a Slack user ID, the agent's name (cancel) or `hitl`.",
        examples=["U0ALICE"],
    )
    at: UtcTimestamp = Field(description="When the decision was made.")
    reason: str | None = Field(
        description="The rejection reason, one of the route's.", examples=["wrong_amount"]
    )
    note: str | None = Field(
        description="The reviewer's note, or the agent's cancel reason.", examples=[None]
    )


_ACTION_OF_STATUS = {
    "approved": "approve",
    "edited": "edit",
    "rejected": "reject",
    "auto_approved": "auto_approve",
    "cancelled": "cancel",
    "expired": "expire",
}


class EscalationOut(BaseModel):
    """One fired escalation step, as recorded on the item."""

    level: int = Field(description="1 for the first escalation, and so on.", examples=[1])
    to: list[str] = Field(
        default_factory=list, description="The people asked.", examples=[["U0MANAGER"]]
    )
    channel: str | None = Field(
        None, description="Where they were asked; null for a DM.", examples=["C0ESCALATIONS"]
    )
    at: UtcTimestamp = Field(description="When the step fired.")
    step: int = Field(0, description="The step of the route's chain (0-based).", examples=[0])
    repeat: int = Field(0, description="Which repetition of the last step.", examples=[0])


class LinkOut(BaseModel):
    text: str = Field(description="The label shown.", examples=["PDF"])
    url: str = Field(
        description="The link's target.", examples=["https://files.example.com/4471.pdf"]
    )


Status = Literal[
    "pending", "approved", "edited", "rejected", "expired", "auto_approved", "cancelled"
]


class DeliveryOut(BaseModel):
    """Whether the item reached Slack."""

    status: Literal["pending", "posted", "failed", "none"] = Field(
        description="`posted` once in Slack; `pending` while queued or being retried; "
        "`failed` when Slack refused it for good (the item stays `pending` but nobody sees "
        "it); `none` for an item decided without being posted.",
        examples=["posted"],
    )
    error: str | None = Field(
        default=None, description="Slack's error when `failed`.", examples=["channel_not_found"]
    )
    at: UtcTimestamp | None = Field(default=None, description="When it failed, when `failed`.")

    @classmethod
    def of(cls, item: ReviewItem) -> "DeliveryOut":
        if item.delivery_error and not item.message_ts:
            return cls(status="failed", error=item.delivery_error, at=item.delivery_failed_at)
        if item.message_ts:
            return cls(status="posted")
        return cls(status="pending" if item.status == "pending" else "none")


class ReviewOut(BaseModel):
    """An item and its decision: the body of GET, of POST answers and of callbacks."""

    id: str = Field(
        description="hitl's id for the item.", examples=["rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2E"]
    )
    status: Status = Field(
        description="`pending` until decided; a decided item never changes again.",
        examples=["approved"],
    )
    workflow: str = Field(description="As submitted.", examples=["ap-invoices"])
    route: str = Field(description="The rules' route that took the item.", examples=["invoices"])
    agent: str = Field(
        description="The agent that submitted it (from its token).", examples=["invoice-bot"]
    )
    channel: str = Field(description="The Slack channel it was posted to.", examples=["C0APREVIEW"])
    title: str = Field(description="As submitted.", examples=["Invoice 4471 from ACME, 12,400 EUR"])
    confidence: float = Field(description="As submitted.", examples=[0.62])
    output: str = Field(description="As submitted.", examples=["Booked to account 6300."])
    final_output: str | None = Field(
        description="As approved: edited where a reviewer edited; null until approved.",
        examples=["Booked to account 6310."],
    )
    decision: DecisionOut | None = Field(description="Null while pending.")
    escalation_level: int = Field(description="How many escalation steps fired.", examples=[0])
    escalations: list[EscalationOut] = Field(description="Each escalation step that fired.")
    external_id: str | None = Field(description="As submitted.", examples=["inv-4471"])
    context: dict[str, str | int | float | bool | None] = Field(
        description="As submitted.", examples=[{"vendor": "ACME GmbH"}]
    )
    links: list[LinkOut] = Field(description="As submitted.")
    metadata: dict[str, Any] = Field(description="As submitted.", examples=[{"model": "gpt-x"}])
    callback_url: str | None = Field(
        description="As submitted.", examples=["https://agent.example.com/hitl/decisions"]
    )
    callback_status: Literal["none", "pending", "delivered", "failed"] = Field(
        description="Whether the callback reached the agent.", examples=["delivered"]
    )
    rules_version: str = Field(
        description="The rules version it was routed with.", examples=["3f9c2a"]
    )
    created_at: UtcTimestamp = Field(description="When it was submitted.")
    deadline: UtcTimestamp | None = Field(
        description="When the next escalation step fires; null when none is due."
    )
    decided_at: UtcTimestamp | None = Field(description="When it was decided; null while pending.")
    delivery: DeliveryOut = Field(
        default_factory=lambda: DeliveryOut(status="pending"),
        description="Whether the item reached Slack, or why it cannot.",
    )

    @classmethod
    def of(cls, item: ReviewItem, decision: Decision | None) -> "ReviewOut":
        return cls(
            id=item.id,
            status=item.status,
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
            escalations=[EscalationOut.model_validate(entry) for entry in item.escalations],
            external_id=item.external_id,
            context=item.context,
            links=[LinkOut.model_validate(link) for link in item.links],
            metadata=item.item_metadata,
            callback_url=item.callback_url,
            callback_status=item.callback_status,
            rules_version=item.rules_version,
            created_at=item.created_at,
            deadline=item.deadline,
            decided_at=item.decided_at,
            delivery=DeliveryOut.of(item),
        )


def _decision_out(decision: Decision | None) -> DecisionOut | None:
    if decision is None:
        return None
    return DecisionOut(
        action=_ACTION_OF_STATUS[decision.status],
        by=decision.by,
        at=decision.at,
        reason=decision.reason,
        note=decision.note,
    )


class FieldError(BaseModel):
    field: str = Field(
        description="Where in the request: a body path (`links[0].url`), a query or path "
        "parameter's name, or `body`.",
        examples=["confidence"],
    )
    message: str = Field(
        description="What is wrong there.", examples=["Input should be a valid number"]
    )


class ErrorOut(BaseModel):
    """Every error answer: a stable code, a sentence for people, and details."""

    error: str = Field(
        description="A stable code: `unauthorized`, `not_found`, `invalid_request`, "
        "`no_route`, `external_id_conflict`, `already_decided`, `body_too_large`, "
        "`database_unavailable`, `internal_error`…",
        examples=["invalid_request"],
    )
    message: str = Field(
        description="What went wrong, in a sentence.", examples=["The request has invalid fields."]
    )
    errors: list[FieldError] | None = Field(
        None, description="Field by field, for `invalid_request`."
    )
    item: ReviewOut | None = Field(
        None,
        description="The existing item, for `already_decided` and `external_id_conflict`.",
    )

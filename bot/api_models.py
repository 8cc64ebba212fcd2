"""The agent API's boundary: what agents send and what they get back (SPEC, "HTTP routes").

Types are strict: a JSON string is never read as a number, nor a boolean as a
confidence. Every field carries a description and an example, which the OpenAPI document
publishes for client generators and Swagger's "Try it out".
"""

import json
from collections.abc import Sequence
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
    model_validator,
)
from pydantic_core import PydanticCustomError

import structured
from storage.models import Decision, ItemComment, ReviewItem

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
    output: (
        Annotated[StrictStr, Field(min_length=1, max_length=MAX_OUTPUT_CHARS)] | dict[str, Any]
    ) = Field(
        description="The agent's output that a person approves, edits or rejects: a text, or "
        "a flat JSON object (a tool call or a form; see `output_schema`) whose fields are "
        "strings, numbers and booleans, shown and edited field by field.",
        examples=["Booked to account 6300, cost centre 41, due 2026-12-01."],
    )
    output_schema: dict[str, Any] | None = Field(
        None,
        description="For an object `output` only: a JSON Schema of it, in the subset hitl "
        "supports: a flat `object` whose properties are `string` (`maxLength`, `minLength`, "
        "`pattern`, `format`: multiline, date, email or uri), `number` or `integer` "
        "(`minimum`, `maximum`), `boolean`, or an `enum` of strings, with `title`, "
        "`description` and `required`. Any other keyword is a 422 naming it; so is an "
        "`output` that does not validate against it. Without it, the object's fields are "
        "typed by their JSON values.",
        examples=[
            {
                "type": "object",
                "required": ["order_id", "amount"],
                "properties": {
                    "order_id": {"type": "string", "title": "Order"},
                    "amount": {"type": "number", "minimum": 0, "maximum": 500},
                },
            }
        ],
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

    @model_validator(mode="after")
    def _structured(self) -> "ReviewRequest":
        """A structured output is checked against its schema (or its implied one); each
        problem names where it is, as `output.amount` or `output_schema.properties.x.y`."""
        if isinstance(self.output, str):
            if self.output_schema is not None:
                raise _structured_error("output_schema", "only for an object `output`")
            return self
        try:
            form = structured.form_of(self.output, self.output_schema)
            structured.check_shape(self.output)
        except structured.SchemaProblem as problem:
            raise _structured_error(problem.path, problem.message) from None
        problems = structured.validate_output(self.output, form)
        if problems:
            first = problems[0]
            raise _structured_error(f"output.{first.field}", first.message)
        if len(json.dumps(self.output, ensure_ascii=False)) > MAX_OUTPUT_CHARS:
            raise _structured_error("output", f"at most {MAX_OUTPUT_CHARS} characters as JSON")
        return self

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


STRUCTURED_ERROR = "structured_output"


def _structured_error(path: str, message: str) -> PydanticCustomError:
    """Reported at `path` (the API's error handler reads it from the context)."""
    return PydanticCustomError(STRUCTURED_ERROR, "{message}", {"path": path, "message": message})


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
    approvers: list[str] = Field(
        default_factory=list,
        description="For `approve` and `edit`: everyone whose approval decided the item, in "
        "the order they approved (a four-eyes route lists several; `by` is the last). Empty "
        "for other actions.",
        examples=[["U0CAROL", "U0DAVE"]],
    )
    changes: list["ChangeOut"] | None = Field(
        default=None,
        exclude_if=lambda changes: changes is None,
        description="Structured items decided `edit`: each field the reviewer changed, in "
        "the fields' order (a field left empty is `null` on that side). Absent for text "
        "items and other actions.",
        examples=[[{"field": "amount", "from": 40.0, "to": 4.0}]],
    )


class ChangeOut(BaseModel):
    """One field a reviewer changed in a structured output."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    field: str = Field(description="The field's key.", examples=["amount"])
    from_: str | int | float | bool | None = Field(
        alias="from", description="The value as submitted.", examples=[40.0]
    )
    to: str | int | float | bool | None = Field(
        description="The value as approved.", examples=[4.0]
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
    output: str | dict[str, Any] = Field(
        description="As submitted: a text, or a structured item's object.",
        examples=["Booked to account 6300."],
    )
    final_output: str | dict[str, Any] | None = Field(
        description="As approved: edited where a reviewer edited; null until approved. The "
        "same type as `output`.",
        examples=["Booked to account 6310."],
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        exclude_if=lambda schema: schema is None,
        description="As submitted, for a structured item sent with a schema (JSON keeps no "
        "key order: the order of its properties may differ). Absent otherwise.",
        examples=[{"type": "object", "properties": {"amount": {"type": "number"}}}],
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

    comments: list["CommentOut"] = Field(
        default_factory=list,
        description="Replies in the thread of the item's messages, oldest first (deleted "
        "ones left out). Replies after the decision are recorded too, but reach the agent "
        "only through GET: the callback was sent at the decision.",
    )

    @classmethod
    def of(
        cls,
        item: ReviewItem,
        decision: Decision | None,
        approvers: Sequence[str] = (),
        *,
        comments: Sequence[ItemComment] = (),
    ) -> "ReviewOut":
        """`approvers`: who approved the deciding text (reviews.decision_approvers); when
        not given, an approval names its decider alone."""
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
            output_schema=item.output_schema,
            decision=_decision_out(decision, approvers, item),
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
            comments=[CommentOut.of(comment) for comment in comments],
        )


class CommentOut(BaseModel):
    """A reply in the thread of one of the item's Slack messages."""

    user: str = Field(description="The Slack user ID of who wrote it.", examples=["U0BOB"])
    at: UtcTimestamp = Field(description="When it was written.")
    text: str = Field(
        description="As written in Slack (mrkdwn), as last edited.",
        examples=["The amount looks off by one zero, checking with AP."],
    )
    edited: bool = Field(
        description="Whether it was edited after it was written.", examples=[False]
    )

    @classmethod
    def of(cls, comment: ItemComment) -> "CommentOut":
        return cls(
            user=comment.user_id,
            at=comment.at,
            text=comment.text,
            edited=comment.edited_at is not None,
        )


def _decision_out(
    decision: Decision | None, approvers: Sequence[str], item: ReviewItem
) -> DecisionOut | None:
    if decision is None:
        return None
    action = _ACTION_OF_STATUS[decision.status]
    approved = action in ("approve", "edit")
    changes = None
    if action == "edit" and isinstance(item.output, dict) and isinstance(item.final_output, dict):
        found = structured.field_changes(item.output, item.final_output, item.field_order or ())
        changes = [ChangeOut.model_validate(change) for change in found]
    return DecisionOut(
        changes=changes,
        action=action,
        by=decision.by,
        at=decision.at,
        reason=decision.reason,
        note=decision.note,
        approvers=(list(approvers) or [decision.by]) if approved else [],
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


class ReviewListOut(BaseModel):
    """A page of the calling agent's items (`GET /v1/reviews`), newest first."""

    items: list[ReviewOut] = Field(description="At most `limit` items, newest first.")
    next_cursor: str | None = Field(
        description="Send as `cursor` (with the same filters) for the next page; null on the "
        "last page. Opaque: an edited cursor is refused with 422.",
        examples=["q1Xk…"],
    )

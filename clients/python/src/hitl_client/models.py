"""What hitl answers, as typed objects: an item with its decision, a page of items."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal[
    "pending", "approved", "edited", "rejected", "expired", "auto_approved", "cancelled"
]
APPROVED_STATUSES = frozenset({"approved", "edited", "auto_approved"})
Scalar = str | int | float | bool | None


class _Lenient(BaseModel):
    # A newer server may add fields: an agent built against this client keeps working.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Change(_Lenient):
    """One field a reviewer changed in a structured output."""

    field: str
    from_: Scalar = Field(default=None, alias="from")
    to: Scalar = None


class Decision(_Lenient):
    action: Literal["approve", "edit", "reject", "auto_approve", "cancel", "expire"]
    by: str
    at: datetime
    reason: str | None = None
    note: str | None = None
    approvers: list[str] = Field(default_factory=list)
    changes: list[Change] | None = None


class Link(_Lenient):
    text: str
    url: str


class Comment(_Lenient):
    user: str
    at: datetime
    text: str
    edited: bool = False


class Review(_Lenient):
    """An item and its decision, as `GET /v1/reviews/{id}` and callbacks send it."""

    id: str
    status: Status
    workflow: str
    route: str
    agent: str
    channel: str = ""
    title: str = ""
    confidence: float
    output: str | dict[str, Any]
    final_output: str | dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    decision: Decision | None = None
    escalation_level: int = 0
    external_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
    created_at: datetime
    deadline: datetime | None = None
    decided_at: datetime | None = None
    comments: list[Comment] = Field(default_factory=list)

    @property
    def approved(self) -> bool:
        """Approved as is, edited, or auto-approved: `final_output` is what to act on."""
        return self.status in APPROVED_STATUSES

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def changes(self) -> list[Change]:
        """The fields a reviewer changed (structured items decided `edit`; else empty)."""
        if self.decision is None or self.decision.changes is None:
            return []
        return self.decision.changes


class ReviewPage(_Lenient):
    """One page of `list()`: pass `next_cursor` back as `cursor` for the next one."""

    items: list[Review]
    next_cursor: str | None = None

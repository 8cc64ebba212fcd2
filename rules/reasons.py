"""Reject reasons: a slug the API and the digest keep, and the label people read.

A reason is written as a plain slug (`wrong_amount`, shown as "Wrong amount") or as
`{id: wrong_amount, label: "Wrong amount (VAT included?)"}`. Plain slugs stay plain
strings after validation, so a route frozen before labels existed reads back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
)

from rules.fields import REASON_MAX_LENGTH, RejectReason
from rules.located_errors import problem_error, require_unique


class LabelledReason(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RejectReason
    # Slack's limit for the text of a select option; without one the slug is humanized.
    label: Annotated[str, Field(min_length=1, max_length=REASON_MAX_LENGTH)] | None = None


_SLUG: TypeAdapter[str] = TypeAdapter(RejectReason)


def _entry(value: Any) -> str | LabelledReason:
    if isinstance(value, LabelledReason):
        return value
    if isinstance(value, str):
        return _SLUG.validate_python(value)
    if isinstance(value, dict):
        return LabelledReason.model_validate(value)
    raise problem_error(
        "reject_reason_type", "must be a slug like wrong_amount, or {id: …, label: …}"
    )


def reason_id(entry: str | LabelledReason) -> str:
    return entry if isinstance(entry, str) else entry.id


def _unique_ids(entries: Sequence[str | LabelledReason]) -> Sequence[str | LabelledReason]:
    require_unique([reason_id(entry) for entry in entries], "duplicate_reason", "is listed twice")
    return entries


def _dumped(entry: str | LabelledReason) -> str | dict[str, str]:
    return entry if isinstance(entry, str) else entry.model_dump(exclude_none=True)


# Frozen into each item as written: a slug, or {id, label}.
RejectReasonEntry = Annotated[
    str | LabelledReason, PlainValidator(_entry), PlainSerializer(_dumped)
]
RejectReasons = Annotated[
    list[RejectReasonEntry],
    Field(min_length=1),
    AfterValidator(partial(_unique_ids)),
]


def humanized(slug: str) -> str:
    """`wrong_amount` → "Wrong amount": the label of a reason the rules do not label."""
    words = slug.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else slug


def label_of(entries: Sequence[str | LabelledReason], slug: str) -> str:
    """The label people read for a reason id (also for ids the route no longer lists)."""
    for entry in entries:
        if isinstance(entry, LabelledReason) and entry.id == slug and entry.label:
            return entry.label
    return humanized(slug)


def default_reasons() -> list[str | LabelledReason]:
    return ["other"]

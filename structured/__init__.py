"""Structured items (tool calls and forms): the schema subset, validation, field changes
and values as people read them. Plain functions over plain JSON data: no Slack, no
storage, so the API, the Slack handlers and the digest share one meaning of a field."""

from structured.changes import field_changes
from structured.schema import (
    MAX_FIELDS,
    FieldSpec,
    FormSchema,
    SchemaProblem,
    check_shape,
    form_of,
    implied_schema,
    ordered,
    parse_schema,
)
from structured.validate import FieldProblem, check_value, validate_output
from structured.values import (
    ABSENT,
    display_text,
    edit_text,
    format_value,
    output_as_text,
    value_from_text,
)

__all__ = [
    "ABSENT",
    "MAX_FIELDS",
    "FieldProblem",
    "FieldSpec",
    "FormSchema",
    "SchemaProblem",
    "check_shape",
    "check_value",
    "display_text",
    "edit_text",
    "field_changes",
    "form_of",
    "format_value",
    "implied_schema",
    "ordered",
    "output_as_text",
    "parse_schema",
    "validate_output",
    "value_from_text",
]

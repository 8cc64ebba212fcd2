"""An output checked against its fields: each problem names the field (its key) and says
what is wrong in words a reviewer or an agent developer understands."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from structured.schema import FieldSpec, FormSchema

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


def validate_output(output: Mapping[str, Any], form: FormSchema) -> list[FieldProblem]:
    """Every problem of `output` against `form`, in the form's order (fields the form
    does not know last)."""
    problems = []
    for spec in form.fields:
        if spec.key not in output:
            if spec.required:
                problems.append(FieldProblem(spec.key, "is required"))
            continue
        message = check_value(spec, output[spec.key])
        if message is not None:
            problems.append(FieldProblem(spec.key, message))
    known = set(form.keys)
    problems += [
        FieldProblem(key, "is not a field of output_schema") for key in output if key not in known
    ]
    return problems


def check_value(spec: FieldSpec, value: Any) -> str | None:
    """What is wrong with `value` for this field, or None."""
    if spec.kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if spec.kind in ("number", "integer"):
        return _number_problem(spec, value)
    if not isinstance(value, str):
        return "must be a string"
    if spec.kind == "enum":
        return None if value in spec.options else f"must be one of {', '.join(spec.options)}"
    return _string_problem(spec, value)


def _number_problem(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if spec.kind == "integer" and not (isinstance(value, int) or value.is_integer()):
        return "must be a whole number"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {_number(spec.minimum)}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be at most {_number(spec.maximum)}"
    return None


def _string_problem(spec: FieldSpec, value: str) -> str | None:
    if spec.min_length is not None and len(value) < spec.min_length:
        if spec.min_length == 1:
            return "cannot be empty"
        return f"must be at least {spec.min_length} characters"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"must be at most {spec.max_length} characters ({len(value)} given)"
    if spec.pattern is not None and re.search(spec.pattern, value) is None:
        return f"must match the pattern {spec.pattern}"
    if spec.format == "date" and not _is_date(value):
        return "must be a date like 2026-12-01"
    if spec.format == "email" and not _EMAIL.match(value):
        return "must be an email address"
    if spec.format == "uri" and not _URI.match(value):
        return "must be a URI like https://example.com/x"
    return None


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _number(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

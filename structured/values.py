"""Values as people read them, and back from what they typed."""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from structured.schema import FieldSpec


class Absent:
    """A field left empty in a form: the key is left out of the output."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


def format_value(value: Any) -> str:
    """A value as people read it: Yes/No, numbers as numbers (never 4.0 or 1e+16), text
    as is, a missing value as —."""
    if value is None or value is ABSENT:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def display_text(output: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """A structured output as lines of "Label: value" (previews, the App Home)."""
    labels = labels or {}
    return "\n".join(
        f"{labels.get(key, key)}: {format_value(value)}" for key, value in output.items()
    )


def output_as_text(output: str | Mapping[str, Any]) -> str:
    """Any output as text: a text output as is, a structured one as "key: value" lines."""
    return output if isinstance(output, str) else display_text(output)


def edit_text(value: Any) -> str:
    """A value as pre-filled in a text input."""
    if value is None or value is ABSENT:
        return ""
    if isinstance(value, float) and not (value.is_integer() and abs(value) < 1e15):
        # The shortest text that reads back as exactly this number, without an exponent
        # (Slack's number input takes none).
        return format(Decimal(repr(value)), "f")
    return format_value(value)


def value_from_text(spec: FieldSpec, text: str | None) -> tuple[Any, str | None]:
    """What a person typed for a field, as the field's JSON type, or why it is not one.
    Empty is ABSENT (required fields then say so when validated)."""
    if text is None or text == "":
        return ABSENT, None
    if spec.kind in ("number", "integer"):
        return _number_from_text(spec, text)
    if spec.kind == "boolean":
        return text.strip().lower() in ("true", "yes", "1", "on"), None
    return text, None


def _number_from_text(spec: FieldSpec, text: str) -> tuple[Any, str | None]:
    cleaned = text.strip().replace("\u2009", "").replace(" ", "").replace("_", "")
    try:
        number = float(cleaned)
    except ValueError:
        return ABSENT, "must be a number"
    if number != number or number in (float("inf"), float("-inf")):
        return ABSENT, "must be a number"
    if spec.kind == "integer":
        if not number.is_integer():
            return ABSENT, "must be a whole number"
        return int(number), None
    return number, None

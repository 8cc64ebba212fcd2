"""What a reviewer changed in a structured output, field by field."""

from collections.abc import Mapping, Sequence
from typing import Any


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], order: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`[{"field", "from", "to"}]` for each field whose value differs, in `order` then
    in the outputs' own order; a field left out on one side is `null` there. 4 and 4.0
    are the same number; `true` is not 1."""
    keys = list(dict.fromkeys([*order, *before, *after]))
    return [
        {"field": key, "from": before.get(key), "to": after.get(key)}
        for key in keys
        if (key in before) != (key in after) or not same_value(before.get(key), after.get(key))
    ]


def same_value(left: Any, right: Any) -> bool:
    """JSON equality of two flat values: booleans are never numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)

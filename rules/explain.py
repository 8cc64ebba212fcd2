"""Turn pydantic's validation errors into short messages a rules author can act on."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from rules.schema import RulesFile

_PLAIN_MESSAGES: dict[str, str] = {
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "too_short": "must not be empty",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
}
_INPUT_SHOULD_BE = "Input should be "
_VALUE_ERROR = "Value error, "


def explain(error: dict[str, Any]) -> str:
    """One message for one entry of ``ValidationError.errors()``."""
    kind = error["type"]
    loc: Sequence[str | int] = error["loc"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), allowed_keys(loc[:-1]))
    if kind == "string_type" and isinstance(error.get("input"), int | float | bool):
        return f"must be text (got {show(error['input'])}); put it in quotes"
    message = _PLAIN_MESSAGES.get(kind) or _plain(error["msg"])
    return _with_input(message, error.get("input"))


def _plain(message: str) -> str:
    if message.startswith(_INPUT_SHOULD_BE):
        return "must be " + message.removeprefix(_INPUT_SHOULD_BE)
    return message.removeprefix(_VALUE_ERROR)


def _with_input(message: str, value: Any) -> str:
    # Only short scalars help; echoing a whole mapping back would drown the message.
    shown = show(value)
    already_said = re.search(rf"(?<![\w.]){re.escape(shown)}(?![\w.])", message) is not None
    if isinstance(value, str | int | float | bool) and len(shown) <= 60 and not already_said:
        return f"{message} (got {shown})"
    return message


def show(value: Any) -> str:
    """A value as the YAML author wrote it: ``true``, ``null``, ``1.5``, ``'C0abc'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _unknown_key(key: str, allowed: list[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    if allowed:
        return f"{message}; expected one of: {', '.join(allowed)}"
    return message


def allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys the rules schema accepts at ``loc`` (e.g. ``("routes", 0)`` -> Route's)."""
    annotation: Any = RulesFile
    for segment in loc:
        annotation = _without_none(annotation)
        if isinstance(segment, int):
            if get_origin(annotation) is not list:
                return []
            annotation = get_args(annotation)[0]
        elif _is_model(annotation) and segment in annotation.model_fields:
            annotation = annotation.model_fields[segment].annotation
        else:
            return []
    annotation = _without_none(annotation)
    if not _is_model(annotation):
        return []
    # As written in the file: `hours.from`, not the Python name of the field.
    return [info.alias or name for name, info in annotation.model_fields.items()]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _without_none(annotation: Any) -> Any:
    """``Digest | None`` -> ``Digest``; ``Annotated[list[X], ...]`` -> ``list[X]``."""
    while hasattr(annotation, "__metadata__"):  # typing.Annotated
        annotation = annotation.__origin__
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _without_none(members[0])
    return annotation

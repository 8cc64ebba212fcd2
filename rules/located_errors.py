"""Raise several validation errors at once, each at its own location.

Pydantic reports a validator's error at the validated object; raising a
ValidationError from inside a validator instead keeps each error's own ``loc``
(relative to that object), so a duplicate in a list points at the duplicate
itself and every problem is reported in one pass.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Problem:
    loc: Loc
    kind: str  # a short machine-readable error type, e.g. "duplicate_route_name"
    message: str
    input: Any = None


def problem_error(kind: str, message: str) -> PydanticCustomError:
    # No context is passed, so pydantic uses the message verbatim (braces and all).
    return PydanticCustomError(kind, message)


def raise_problems(
    title: str, problems: Sequence[Problem], earlier: ValidationError | None = None
) -> NoReturn:
    """Raise one ValidationError holding ``earlier``'s errors followed by ``problems``."""
    details: list[InitErrorDetails] = []
    if earlier is not None:
        details.extend(
            InitErrorDetails(
                type=problem_error(error["type"], error["msg"]),
                loc=tuple(error["loc"]),
                input=error.get("input"),
            )
            for error in earlier.errors()
        )
    details.extend(
        InitErrorDetails(type=problem_error(p.kind, p.message), loc=p.loc, input=p.input)
        for p in problems
    )
    raise ValidationError.from_exception_data(title, details)


def require_unique(items: Sequence[T], kind: str, message: str) -> Sequence[T]:
    """Reject repeats in a list, pointing at each repeat (not the first occurrence)."""
    problems = [
        Problem(loc=(index,), kind=kind, message=message, input=item)
        for index, item in _repeats(items)
    ]
    if problems:
        raise_problems("list", problems)
    return items


def _repeats(items: Iterable[T]) -> list[tuple[int, T]]:
    seen: set[T] = set()
    repeats: list[tuple[int, T]] = []
    for index, item in enumerate(items):
        if item in seen:
            repeats.append((index, item))
        seen.add(item)
    return repeats

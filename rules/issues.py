"""What is wrong with a rules file, and where: one RuleIssue per problem."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RuleIssue:
    file: str
    line: int | None  # 1-based; None when the problem has no place in the text
    column: int | None  # 1-based
    location: str  # key path like "routes[0].escalation[1].after"; "" for the whole file
    message: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        where = f" {self.location}:" if self.location else ""
        return f"{place}:{where} {self.message}"


class RulesError(Exception):
    """The rules file cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[RuleIssue]) -> None:
        self.issues: list[RuleIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def format_location(loc: Iterable[str | int]) -> str:
    """``("routes", 0, "owner")`` -> ``"routes[0].owner"``."""
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text


def in_reading_order(issues: Iterable[RuleIssue]) -> list[RuleIssue]:
    """File-wide issues first, then by line and column (stable for ties)."""
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0))

"""Read a rules file, validate it, and report every problem with its line and column."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rules.explain import explain
from rules.issues import RuleIssue, RulesError, format_location, in_reading_order
from rules.schema import RulesFile
from rules.yaml_source import (
    YamlDocument,
    YamlSyntaxError,
    parse_yaml,
    position_of,
)

__all__ = [
    "LoadedRules",
    "RuleIssue",
    "RulesError",
    "check_rules",
    "load_rules",
    "load_rules_text",
    "rules_version",
]


@dataclass(frozen=True)
class LoadedRules:
    rules: RulesFile
    version: str  # first 16 hex digits of the file's sha256: items record what routed them
    path: str


def rules_version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def load_rules(path: str | Path) -> LoadedRules:
    """Load and validate the rules file at ``path``; raise RulesError listing every problem."""
    file = str(path)
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        raise _file_error(file, "file not found") from None
    except IsADirectoryError:
        raise _file_error(file, "is a directory, not a rules file") from None
    except OSError as error:
        raise _file_error(file, f"cannot read the file: {error.strerror or error}") from None
    try:
        text = content.decode("utf-8-sig")  # tolerate the BOM some editors write
    except UnicodeDecodeError as error:
        raise _file_error(file, f"not UTF-8 text (bad byte at offset {error.start})") from None
    return _load(text, content, file)


def load_rules_text(text: str, file: str = "<string>") -> LoadedRules:
    """Like load_rules, from text already in memory (``file`` names it in messages)."""
    return _load(text, text.encode("utf-8"), file)


def check_rules(path: str | Path) -> list[RuleIssue]:
    """Every problem in the rules file at ``path``; empty when it is valid."""
    try:
        load_rules(path)
    except RulesError as error:
        return error.issues
    return []


def _load(text: str, content: bytes, file: str) -> LoadedRules:
    try:
        document = parse_yaml(text)
    except YamlSyntaxError as error:
        where = error.position
        line, column = (where.line, where.column) if where else (None, None)
        raise RulesError([RuleIssue(file, line, column, "", error.message)]) from None

    if document.data is None:
        raise _file_error(file, "the file is empty; it needs at least a `routes:` list")
    if not isinstance(document.data, dict):
        raise RulesError(
            [_issue(file, document, (), "the top level must be a mapping with keys like routes:")]
        )

    issues = [
        RuleIssue(
            file,
            duplicate.position.line,
            duplicate.position.column,
            format_location(duplicate.loc),
            f"key written twice (first on line {duplicate.first_line}); only the last would count",
        )
        for duplicate in document.duplicate_keys
    ]
    try:
        rules = RulesFile.model_validate(document.data)
    except ValidationError as error:
        issues += [_validation_issue(file, document, entry) for entry in error.errors()]
    if issues:
        raise RulesError(in_reading_order(issues))
    return LoadedRules(rules=rules, version=rules_version(content), path=file)


def _validation_issue(file: str, document: YamlDocument, entry: Any) -> RuleIssue:
    loc = tuple(entry["loc"])
    return _issue(file, document, loc, explain(entry), at_key=entry["type"] == "extra_forbidden")


def _issue(
    file: str,
    document: YamlDocument,
    loc: tuple[str | int, ...],
    message: str,
    *,
    at_key: bool = False,
) -> RuleIssue:
    position = position_of(document.root, loc, at_key=at_key)
    return RuleIssue(
        file=file,
        line=position.line if position else None,
        column=position.column if position else None,
        location=format_location(loc),
        message=message,
    )


def _file_error(file: str, message: str) -> RulesError:
    return RulesError([RuleIssue(file=file, line=None, column=None, location="", message=message)])

"""YAML text -> data plus the node tree, so any key path can be traced to a line.

Values are built with PyYAML's safe constructor (no arbitrary tags); the
composed node tree is kept because it remembers where each key and value was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

Loc = Sequence[str | int]
_MERGE_KEY = "<<"


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class DuplicateKey:
    loc: tuple[str | int, ...]  # path of the repeated key
    position: Position
    first_line: int


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: yaml.Node | None  # None when the document is empty
    duplicate_keys: list[DuplicateKey]


class YamlSyntaxError(Exception):
    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document with safe_load semantics, keeping its node tree."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        # Before constructing: building the data flattens `<<` merges into the
        # node tree, which would make merged-then-overridden keys look repeated.
        duplicates = duplicate_keys(root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlSyntaxError(_describe(error), _position(mark)) from None
    except yaml.YAMLError as error:  # e.g. a control character the reader refuses
        raise YamlSyntaxError(str(error), None) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, root=root, duplicate_keys=duplicates)


def _describe(error: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (error.context, error.problem) if part]
    return "YAML syntax error: " + (", ".join(parts) if parts else "cannot parse")


def _position(mark: yaml.Mark | None) -> Position | None:
    return Position(line=mark.line + 1, column=mark.column + 1) if mark is not None else None


def position_of(root: yaml.Node | None, loc: Loc, *, at_key: bool = False) -> Position | None:
    """Where ``loc`` (like ``("routes", 0, "owner")``) is written.

    Points at the value, or at the key itself with ``at_key`` (for unknown keys).
    When the path does not exist (a missing key), points at the deepest part that does.
    """
    if root is None:
        return None
    node: yaml.Node = root
    key_node: yaml.Node | None = None
    for segment in loc:
        found = _child(node, segment)
        if found is None:
            return _position(node.start_mark)
        key_node, node = found
    chosen = key_node if at_key and key_node is not None else node
    return _position(chosen.start_mark)


def _child(node: yaml.Node, segment: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(segment, int):
        return (None, node.value[segment]) if 0 <= segment < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        # The last occurrence wins, as in safe_load. Constructing the data has
        # already flattened `<<` merges into this list, merged keys first, so
        # explicit keys win and merged ones point where the anchor was written.
        for key, value in reversed(node.value):
            if isinstance(key, yaml.ScalarNode) and key.value == str(segment):
                return key, value
    return None


def duplicate_keys(root: yaml.Node | None) -> list[DuplicateKey]:
    """Keys written twice in one mapping: safe_load silently keeps only the last."""
    found: list[DuplicateKey] = []
    visited: set[int] = set()

    def walk(node: yaml.Node, loc: tuple[str | int, ...]) -> None:
        if id(node) in visited:  # aliases share nodes, and may even form cycles
            return
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*loc, index))
        elif isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != _MERGE_KEY:
                    line = key.start_mark.line + 1
                    if key.value in first_lines:
                        found.append(
                            DuplicateKey(
                                loc=(*loc, key.value),
                                position=Position(line, key.start_mark.column + 1),
                                first_line=first_lines[key.value],
                            )
                        )
                    else:
                        first_lines[key.value] = line
                walk(value, (*loc, key.value if isinstance(key, yaml.ScalarNode) else "?"))

    if root is not None:
        walk(root, ())
    return found

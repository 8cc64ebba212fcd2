"""Strict JSON for the agent API: what Python's `json` accepts but a database or Slack
cannot hold is refused before any model sees it.

`json.loads` takes `NaN`, `Infinity`, `1e400` (infinite), lone surrogates (`"\\ud800"`),
NUL characters and duplicate keys; PostgreSQL refuses some of them, SQLite stores them,
and deep nesting crashes serialisation later. Refusing them here, as one 422, keeps
every stored item readable. Pure functions.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32  # the request body itself is level 1; each nested object or array adds one

_FORBIDDEN_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
# In valid UTF-8 JSON, NUL and surrogates can only come from escapes: `\u0000`, `\udXXX`.
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: fast on long strings
_BRACKETS_ONLY = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


@dataclass(frozen=True)
class JsonProblem:
    path: str  # where in the body, as in the API's field errors (`context.vendor`, `links[0]`)
    message: str


class _Refused(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; JSON has no NaN or Infinity")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"the number {text[:40]} is too large")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key[:100]!r} appears twice in one object")
        result[key] = value
    return result


def parse(body: bytes) -> tuple[Any, JsonProblem | None]:
    """The parsed body, or the first reason it is refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, JsonProblem("body", f"the body is not UTF-8 (byte {error.start})")
    try:
        value = json.loads(
            text,
            parse_constant=_no_constants,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except _Refused as refused:
        return None, JsonProblem("body", str(refused))
    except RecursionError:
        return None, JsonProblem("body", f"the body is nested deeper than {MAX_DEPTH} levels")
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        return None, JsonProblem("body", f"the body is not valid JSON: {error}")
    # The full walk costs more than parsing: only when the text says it could find something.
    if _SUSPICIOUS_ESCAPE.search(text) or _max_depth(text) > MAX_DEPTH:
        return value, find_problem(value)
    return value, None


def _max_depth(text: str) -> int:
    """How deep objects and arrays nest (up to MAX_DEPTH + 1), counting brackets outside
    strings: each pass removes the innermost level, in C, so a big body stays cheap."""
    structure = _BRACKETS_ONLY.sub("", _JSON_STRING.sub("", text))
    depth = 0
    while structure and depth <= MAX_DEPTH:
        structure = _INNERMOST.sub("", structure)
        depth += 1
    return depth


def find_problem(value: Any) -> JsonProblem | None:
    """The first nesting or character problem anywhere in a parsed value (keys included)."""
    # Iterative, so hostile depth cannot exhaust the stack here either.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return JsonProblem(path or "body", f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                for key, child in node.items():
                    if _FORBIDDEN_CHARACTERS.search(key):
                        return JsonProblem(path or "body", _character_message("a key", key))
                    stack.append((child, f"{path}.{key}" if path else key, depth + 1))
            else:
                for index, child in enumerate(node):
                    stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(node, str) and _FORBIDDEN_CHARACTERS.search(node):
            return JsonProblem(path or "body", _character_message("the text", node))
    return None


def _character_message(what: str, text: str) -> str:
    found = _FORBIDDEN_CHARACTERS.search(text)
    assert found is not None
    if found.group() == "\x00":
        return f"{what} contains a NUL character (\\u0000)"
    return f"{what} contains a lone surrogate (\\u{ord(found.group()):04x}), which is not text"

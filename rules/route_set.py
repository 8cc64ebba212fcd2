"""Checks that need all routes at once: unique names, a known fallback, no dead routes.

They read the raw mapping (before the routes are validated one by one) so their
findings are reported together with every other error in the file, not in a
second round after the user has fixed the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules.located_errors import Problem


@dataclass(frozen=True)
class _RawRoute:
    index: int
    name: str | None
    workflow: str | None
    agent: str


def route_set_problems(data: dict[str, Any]) -> list[Problem]:
    raw_routes = data.get("routes")
    routes = _raw_routes(raw_routes) if isinstance(raw_routes, list) else []
    return [
        *_duplicate_names(routes),
        *_unreachable_routes(routes),
        *_unknown_fallback(data.get("fallback"), routes),
    ]


def _raw_routes(items: list[Any]) -> list[_RawRoute]:
    routes: list[_RawRoute] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        match = item.get("match")
        match = match if isinstance(match, dict) else {}
        workflow, agent = match.get("workflow"), match.get("agent", "*")
        routes.append(
            _RawRoute(
                index=index,
                name=name if isinstance(name, str) else None,
                workflow=workflow if isinstance(workflow, str) else None,
                agent=agent if isinstance(agent, str) else "*",
            )
        )
    return routes


def _duplicate_names(routes: list[_RawRoute]) -> list[Problem]:
    first_index: dict[str, int] = {}
    problems: list[Problem] = []
    for route in routes:
        if route.name is None:
            continue
        if route.name in first_index:
            problems.append(
                Problem(
                    loc=("routes", route.index, "name"),
                    kind="duplicate_route_name",
                    message=f"route name is already used by routes[{first_index[route.name]}]",
                    input=route.name,
                )
            )
        else:
            first_index[route.name] = route.index
    return problems


def _covers(earlier_pattern: str, later_pattern: str) -> bool:
    # Conservative on purpose: only "*" or the very same pattern surely matches
    # everything the later pattern does.
    return earlier_pattern in ("*", later_pattern)


def _unreachable_routes(routes: list[_RawRoute]) -> list[Problem]:
    problems: list[Problem] = []
    for position, later in enumerate(routes):
        if later.workflow is None:
            continue
        for earlier in routes[:position]:
            if earlier.workflow is None:
                continue
            if _covers(earlier.workflow, later.workflow) and _covers(earlier.agent, later.agent):
                label = f" ({earlier.name!r})" if earlier.name else ""
                problems.append(
                    Problem(
                        loc=("routes", later.index, "match"),
                        kind="unreachable_route",
                        message=(
                            f"can never match: routes[{earlier.index}]{label} comes first"
                            " and matches everything this route does (first match wins)"
                        ),
                        input={"workflow": later.workflow, "agent": later.agent},
                    )
                )
                break
    return problems


def _unknown_fallback(fallback: Any, routes: list[_RawRoute]) -> list[Problem]:
    if not isinstance(fallback, str):
        return []  # absent, or a type error the field itself reports
    names = list(dict.fromkeys(route.name for route in routes if route.name is not None))
    if fallback in names:
        return []
    known = ", ".join(names) if names else "none defined"
    return [
        Problem(
            loc=("fallback",),
            kind="unknown_fallback",
            message=f"must name one of the routes ({known})",
            input=fallback,
        )
    ]

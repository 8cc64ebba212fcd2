"""Which route takes an item: first match wins, then the fallback route, else none."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase

from rules.schema import Route, RulesFile


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    auto_approved: bool  # confidence reached the route's auto_approve_at
    used_fallback: bool  # no route matched; the rules' fallback route took the item


def matches(route: Route, *, workflow: str, agent: str) -> bool:
    # fnmatchcase: "AP-*" must not match "ap-invoices" on any platform.
    return fnmatchcase(workflow, route.match.workflow) and fnmatchcase(agent, route.match.agent)


def first_matching_route(rules: RulesFile, *, workflow: str, agent: str) -> Route | None:
    return next(
        (route for route in rules.routes if matches(route, workflow=workflow, agent=agent)),
        None,
    )


def match_route(rules: RulesFile, workflow: str, agent: str) -> Route | None:
    """The first route matching both workflow and agent, else the fallback route, else None."""
    decision = _route(rules, workflow=workflow, agent=agent)
    return decision[0] if decision else None


def route_item(
    rules: RulesFile, *, workflow: str, agent: str, confidence: float
) -> RouteDecision | None:
    """Route an item and decide whether its confidence lets it skip people."""
    if not (isinstance(confidence, int | float) and 0 <= confidence <= 1) or math.isnan(confidence):
        raise ValueError(f"confidence must be a number from 0 to 1, got {confidence!r}")
    decision = _route(rules, workflow=workflow, agent=agent)
    if decision is None:
        return None
    route, used_fallback = decision
    threshold = route.auto_approve_at
    return RouteDecision(
        route=route,
        auto_approved=threshold is not None and confidence >= threshold,
        used_fallback=used_fallback,
    )


def _route(rules: RulesFile, *, workflow: str, agent: str) -> tuple[Route, bool] | None:
    route = first_matching_route(rules, workflow=workflow, agent=agent)
    if route is not None:
        return route, False
    fallback = rules.route_named(rules.fallback) if rules.fallback else None
    return (fallback, True) if fallback is not None else None

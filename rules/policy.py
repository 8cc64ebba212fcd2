"""Who may decide an item, and the escalation chain a route runs."""

from __future__ import annotations

from collections.abc import Iterable

from rules.schema import EscalationStep, Route


def may_decide(route: Route, user_id: str, escalated_to: Iterable[str] = ()) -> bool:
    """Route owners (anyone, when none are listed) and the people the item was escalated to."""
    if not route.owner.users or user_id in route.owner.users:
        return True
    return user_id in set(escalated_to)


def escalation_chain(route: Route) -> list[EscalationStep]:
    """The steps in the order they run: the last one again ``repeat`` more times.

    Each step waits its ``after`` from the previous one (the first from posting);
    once the last has waited, the route's ``on_exhausted`` applies.
    """
    if not route.escalation:
        return []
    return [*route.escalation, *[route.escalation[-1]] * route.repeat]

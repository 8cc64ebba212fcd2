"""The escalation chain, with an injected clock: no sleeping through real minutes."""

from datetime import UTC, datetime, timedelta

from rules import Route, escalation, load_rules_text

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _route(extra: str) -> Route:
    text = "routes:\n  - name: r\n    match: {workflow: w}\n    owner: {channel: C0OWNER}\n" + extra
    return load_rules_text(text).rules.routes[0]


CHAIN = (
    "    escalation:\n"
    "      - {after: 30m, to: [U0MANAGER], channel: C0ESC}\n"
    "      - {after: 2h, to: [U0DIRECTOR]}\n"
)


def _walk(route: Route) -> list[escalation.Escalate | escalation.Exhaust]:
    steps: list[escalation.Escalate | escalation.Exhaust] = []
    nxt = escalation.first(route, T0)
    while nxt is not None:
        steps.append(nxt)
        if isinstance(nxt, escalation.Exhaust):
            break
        nxt = escalation.after(route, nxt.index, nxt.due_at)
    return steps


def test_each_step_waits_from_the_previous_one_then_expires() -> None:
    steps = _walk(_route(CHAIN))
    assert [type(s).__name__ for s in steps] == ["Escalate", "Escalate", "Exhaust"]
    assert steps[0].due_at == T0 + timedelta(minutes=30)
    assert steps[1].due_at == T0 + timedelta(minutes=150)
    assert steps[2].due_at == T0 + timedelta(minutes=270)  # the director gets 2h too
    assert isinstance(steps[2], escalation.Exhaust) and steps[2].action == "expire"
    assert escalation.step_at(_route(CHAIN), 0).channel == "C0ESC"


def test_repeat_runs_the_last_step_again() -> None:
    steps = _walk(_route(CHAIN + "    repeat: 2\n    on_exhausted: reject\n"))
    escalations = [s for s in steps if isinstance(s, escalation.Escalate)]
    assert [(s.step, s.repeat) for s in escalations] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert [s.due_at - T0 for s in escalations][-1] == timedelta(minutes=30 + 3 * 120)
    assert isinstance(steps[-1], escalation.Exhaust) and steps[-1].action == "reject"


def test_keep_stops_escalating_and_never_exhausts() -> None:
    steps = _walk(_route(CHAIN + "    on_exhausted: keep\n"))
    assert [type(s).__name__ for s in steps] == ["Escalate", "Escalate"]


def test_a_route_without_a_chain_has_nothing_due() -> None:
    assert escalation.first(_route(""), T0) is None

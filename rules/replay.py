"""Policy replay: what a proposed rules file would have done with a period's real items.

Pure: plain rows in, a report out (docs/replay.md). Both rules files (the one in use,
"old", and the proposed one, "new") are applied to every item the same way, so the
comparison is like for like; the record supplies what people actually did and how long
each item waited:

- routing: the route each file picks, so items moving between routes or matched by none;
- auto-approval: items the new file would approve without a person, and of those how many
  people had rejected or edited (the cost of the change, with a Wilson upper bound);
- escalations: a step fires if the item waited longer than its deadline under the chain
  (with working hours, via rules.escalation), assuming people decided when they did;
- load per reviewer: items each person could decide (owners, then who it escalates to).

Rows are folded in one at a time, so memory depends on the number of routes and people,
not of items; routing and chains are cached per (workflow, agent) and per route.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from digest.stats import wilson_interval
from rules import escalation
from rules.matching import route_item
from rules.policy import escalation_chain
from rules.schema import Route, RulesFile

UNMATCHED = "(unmatched)"
AUTO_APPROVED = "auto_approved"
PEOPLE_DECIDED = frozenset({"approved", "edited", "rejected"})


@dataclass(frozen=True)
class ReplayRow:
    """One item of the record, as the replay needs it."""

    workflow: str
    agent: str
    confidence: float
    created_at: datetime
    route: str  # the route it was routed to
    status: str  # what happened: approved | edited | rejected | expired | auto_approved | …
    escalation_level: int  # escalation steps that fired
    decided_at: datetime | None  # None: still waiting at the end of the period


@dataclass(frozen=True)
class _Fate:
    route: str  # UNMATCHED when no route (and no fallback) takes the item
    auto_approved: bool
    people: tuple[str, ...]  # who could decide it (owners, then escalation targets)
    fired: tuple[int, ...]  # indexes of the escalation steps that fired
    expired: bool  # the chain ran out before the decision (on_exhausted expire/reject)


@dataclass
class Side:
    """One rules file's figures for one route."""

    items: int = 0
    auto_approved: int = 0
    to_people: int = 0
    escalations: Counter[int] = field(default_factory=Counter)  # step index -> times fired
    would_expire: int = 0

    def as_dict(self, route: Route | None) -> dict[str, Any]:
        chain = escalation_chain(route) if route else []
        steps = [
            {"step": index + 1, "to": list(chain[index].to), "fired": count}
            for index, count in sorted(self.escalations.items())
        ]
        return {
            "items": self.items,
            "auto_approved": self.auto_approved,
            "to_people": self.to_people,
            "escalations": sum(self.escalations.values()),
            "escalation_steps": steps,
            "would_expire": self.would_expire,
        }


@dataclass
class RouteReplay:
    name: str
    old: Side = field(default_factory=Side)
    new: Side = field(default_factory=Side)
    moved_out: Counter[str] = field(default_factory=Counter)  # old route -> new route elsewhere
    moved_in: Counter[str] = field(default_factory=Counter)
    newly_auto_approved: Counter[str] = field(default_factory=Counter)  # by what people did
    no_longer_auto_approved: int = 0
    recorded_items: int = 0
    recorded_escalations: int = 0

    def cost(self) -> dict[str, Any]:
        seen = sum(self.newly_auto_approved[s] for s in PEOPLE_DECIDED)
        bad = self.newly_auto_approved["rejected"] + self.newly_auto_approved["edited"]
        return {
            "items": sum(self.newly_auto_approved.values()),
            "decided_by_people": seen,
            "rejected": self.newly_auto_approved["rejected"],
            "edited": self.newly_auto_approved["edited"],
            "approved": self.newly_auto_approved["approved"],
            "bad_share": bad / seen if seen else None,
            "bad_share_upper_bound": wilson_interval(bad, seen)[1] if seen else None,
        }


class _Simulator:
    """One rules file applied to items, with its routing and chains cached."""

    def __init__(self, rules: RulesFile) -> None:
        self.rules = rules
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._offsets: dict[str, list[timedelta] | None] = {}

    def route(self, workflow: str, agent: str) -> Route | None:
        key = (workflow, agent)
        if key not in self._routes:
            decision = route_item(self.rules, workflow=workflow, agent=agent, confidence=0.0)
            self._routes[key] = decision.route if decision else None
        return self._routes[key]

    def fate(self, row: ReplayRow, period_end: datetime) -> _Fate:
        route = self.route(row.workflow, row.agent)
        if route is None:
            return _Fate(UNMATCHED, False, (), (), False)
        threshold = route.auto_approve_at
        if threshold is not None and row.confidence >= threshold:
            return _Fate(route.name, True, (), (), False)
        owners = tuple(route.owner.users) or (route.owner.channel,)
        if row.status == AUTO_APPROVED:  # no person saw it: how long it would wait is unknown
            return _Fate(route.name, False, owners, (), False)
        waited_until = row.decided_at or period_end
        fired, expired = self._fired(route, row.created_at, waited_until)
        chain = escalation_chain(route)
        people = list(owners)
        for index in fired:
            people += [target for target in chain[index].to if target not in people]
        return _Fate(route.name, False, tuple(people), tuple(fired), expired)

    def _fired(self, route: Route, created: datetime, until: datetime) -> tuple[list[int], bool]:
        """The chain's steps due by `until`, and whether it ran out by then. A step due at
        the very moment of the decision fired: the bot expires an item exactly at its
        chain's end, so its `decided_at` is that moment."""
        if not route.escalation:
            return [], False
        offsets = self._wall_clock_offsets(route)
        if offsets is not None:  # no working hours: plain sums, no calendar arithmetic
            waited = until - created
            fired = [i for i, offset in enumerate(offsets[:-1]) if offset <= waited]
            ran_out = route.on_exhausted != "keep" and offsets[-1] <= waited
            return fired, ran_out
        fired = []
        due = escalation.first(route, created)
        while due is not None and due.due_at <= until:
            if isinstance(due, escalation.Exhaust):
                return fired, True
            fired.append(due.index)
            due = escalation.after(route, due.index, due.due_at)
        return fired, False

    def _wall_clock_offsets(self, route: Route) -> list[timedelta] | None:
        """Each step's due time after arrival, then the chain's end (no working hours)."""
        if route.name not in self._offsets:
            if route.calendar() is not None:
                self._offsets[route.name] = None
            else:
                total, offsets = timedelta(0), []
                for step in escalation_chain(route):
                    total += step.after
                    offsets.append(total)
                last = escalation_chain(route)[-1].after
                self._offsets[route.name] = [*offsets, total + last]
        return self._offsets[route.name]


class Replay:
    """Folds rows in one at a time; `report()` gives the result (docs/replay.md)."""

    def __init__(self, old: RulesFile, new: RulesFile, *, period_end: datetime) -> None:
        self.old, self.new = _Simulator(old), _Simulator(new)
        self.period_end = period_end
        self.routes: dict[str, RouteReplay] = {}
        self.items = 0
        self.load_old: Counter[str] = Counter()
        self.load_new: Counter[str] = Counter()

    def _route(self, name: str) -> RouteReplay:
        if name not in self.routes:
            self.routes[name] = RouteReplay(name)
        return self.routes[name]

    def add(self, row: ReplayRow) -> None:
        self.items += 1
        old, new = self.old.fate(row, self.period_end), self.new.fate(row, self.period_end)
        recorded = self._route(row.route)
        recorded.recorded_items += 1
        recorded.recorded_escalations += row.escalation_level
        for fate, side_of, load in ((old, "old", self.load_old), (new, "new", self.load_new)):
            side: Side = getattr(self._route(fate.route), side_of)
            side.items += 1
            side.auto_approved += fate.auto_approved
            side.to_people += not fate.auto_approved and fate.route != UNMATCHED
            side.escalations.update(fate.fired)
            side.would_expire += fate.expired
            load.update(fate.people)
        if old.route != new.route:
            self._route(old.route).moved_out[new.route] += 1
            self._route(new.route).moved_in[old.route] += 1
        if new.auto_approved and not old.auto_approved:
            self._route(new.route).newly_auto_approved[row.status] += 1
        elif old.auto_approved and not new.auto_approved:
            self._route(new.route).no_longer_auto_approved += 1

    def report(self) -> dict[str, Any]:
        """The JSON report's `routes`, `unmatched`, `reviewers` and `items` parts."""
        routes = []
        for name in sorted(self.routes, key=lambda n: (n == UNMATCHED, n)):
            replay = self.routes[name]
            routes.append(
                {
                    "name": name,
                    "recorded": {
                        "items": replay.recorded_items,
                        "escalations": replay.recorded_escalations,
                    },
                    "old": replay.old.as_dict(self.old.rules.route_named(name)),
                    "new": replay.new.as_dict(self.new.rules.route_named(name)),
                    "moved_out": dict(sorted(replay.moved_out.items())),
                    "moved_in": dict(sorted(replay.moved_in.items())),
                    "newly_auto_approved": replay.cost(),
                    "no_longer_auto_approved": replay.no_longer_auto_approved,
                }
            )
        people = sorted(set(self.load_old) | set(self.load_new))
        return {
            "items": self.items,
            "unmatched": {
                "old": self.routes[UNMATCHED].old.items if UNMATCHED in self.routes else 0,
                "new": self.routes[UNMATCHED].new.items if UNMATCHED in self.routes else 0,
            },
            "routes": routes,
            "reviewers": [
                {"who": who, "old": self.load_old[who], "new": self.load_new[who]} for who in people
            ],
        }


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def _delta(old: int, new: int) -> str:
    return f"{old} → {new}" if old != new else f"{old} (same)"


def markdown(report: dict[str, Any]) -> str:
    """The report for people (the JSON one, `report` with period and rules, for tools)."""
    period, rules = report["period"], report["rules"]
    lines = [
        f"# Rules replay: {period['label']}",
        "",
        f"{report['items']} items from {period['since']} to {period['until']}, replayed with "
        f"the rules in use (`{rules['old']}`) and the proposed ones (`{rules['new']}`).",
        f"Unmatched (no route, no fallback): {_delta(**report['unmatched'])}.",
    ]
    for route in report["routes"]:
        old, new = route["old"], route["new"]
        lines += ["", f"## {route['name']}", ""]
        lines.append(f"- items: {_delta(old['items'], new['items'])}")
        for target, count in route["moved_out"].items():
            lines.append(f"- {count} would go to **{target}** instead")
        for source, count in route["moved_in"].items():
            lines.append(f"- {count} would come from **{source}**")
        lines.append(f"- auto-approved: {_delta(old['auto_approved'], new['auto_approved'])}")
        cost = route["newly_auto_approved"]
        if cost["items"]:
            lines.append(
                f"- newly auto-approved: {cost['items']}; of the {cost['decided_by_people']} "
                f"people decided, {cost['rejected']} rejected and {cost['edited']} edited "
                f"({_pct(cost['bad_share'])}, at most {_pct(cost['bad_share_upper_bound'])} "
                "at 95%)"
            )
        if route["no_longer_auto_approved"]:
            lines.append(f"- no longer auto-approved: {route['no_longer_auto_approved']}")
        lines.append(f"- escalations: {_delta(old['escalations'], new['escalations'])}")
        for step in new["escalation_steps"]:
            lines.append(f"  - step {step['step']} to {', '.join(step['to'])}: {step['fired']}")
        if old["would_expire"] or new["would_expire"]:
            ran_out = _delta(old["would_expire"], new["would_expire"])
            lines.append(f"- chain runs out (expire/reject): {ran_out}")
    changed = [r for r in report["reviewers"] if r["old"] != r["new"]]
    lines += ["", "## Load per reviewer", ""]
    if not changed:
        lines.append("No change.")
    else:
        lines += ["| who | old | new |", "|---|---:|---:|"]
        lines += [f"| {r['who']} | {r['old']} | {r['new']} |" for r in changed]
    return "\n".join(lines) + "\n"

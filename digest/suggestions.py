"""Rule changes the record supports, each with its evidence, and with how to test and
apply it: the change as a rules-file snippet and the `hitl rules replay` command that
replays it over the evidence window (docs/digest.md, docs/replay.md)."""

import re
import shlex
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from digest import model
from digest.friction import ESCALATED_OWNER_MIN_ITEMS, ESCALATED_OWNER_SHARE, rising
from digest.stats import Band, earned_threshold, threshold_too_low
from rules import RulesFile
from rules.durations import format_duration
from rules.schema import Route
from storage import digest_queries as q
from storage.db import Database

BANDS = 20  # confidence bands 0.05 wide
SUGGESTION_WINDOW = timedelta(days=28)  # thresholds are earned over weeks, not one week


def evidence_window(period: model.Period) -> tuple[datetime, datetime]:
    """The 28 days before the period's end, counted in its time zone: local midnight to
    local midnight, as `hitl rules replay --since/--until` reads its dates, so the replay
    covers exactly the items the suggestion rests on (across a DST change too)."""
    end = period.until.astimezone(ZoneInfo(period.timezone))
    return (end - SUGGESTION_WINDOW).astimezone(UTC), period.until


def window_bands(db: Database, period: model.Period) -> list[q.BandCount]:
    """Human decisions per route and confidence band over the suggestion window."""
    return q.confidence_bands(db, *evidence_window(period), BANDS)


def _bands_by_route(bands: list[q.BandCount]) -> dict[str, list[Band]]:
    by_route: dict[str, list[Band]] = {}
    for row in bands:
        by_route.setdefault(row.route, []).append(
            Band(
                lower=row.band / BANDS,
                upper=(row.band + 1) / BANDS,
                n=row.n,
                unchanged=row.unchanged,
            )
        )
    return {route: sorted(found, key=lambda b: b.lower) for route, found in by_route.items()}


def earned_thresholds(
    bands: list[q.BandCount], rules: RulesFile, period: model.Period
) -> list[model.Suggestion]:
    """`bands`: window_bands of the period."""
    by_route = _bands_by_route(bands)
    suggestions = []
    for route in rules.routes:
        earned = earned_threshold(by_route.get(route.name, []))
        if earned is None:
            continue
        if route.auto_approve_at is not None and route.auto_approve_at <= earned.threshold:
            continue  # already at or below what was earned
        suggestions.append(
            model.Suggestion(
                kind="auto_approve_earned",
                route=route.name,
                message=(
                    f"Route {route.name} could set auto_approve_at: {earned.threshold:.2f}. "
                    f"Of {earned.n} items at or above that confidence in the last "
                    f"{SUGGESTION_WINDOW.days} days, {earned.unchanged} were approved unchanged "
                    f"({earned.rate:.1%}; at least {earned.lower_bound:.1%} with 95% confidence)."
                ),
                evidence={
                    "threshold": earned.threshold,
                    "items": earned.n,
                    "approved_unchanged": earned.unchanged,
                    "rate": round(earned.rate, 4),
                    "lower_bound": round(earned.lower_bound, 4),
                    "window_days": SUGGESTION_WINDOW.days,
                },
                **proposal(
                    "auto_approve_earned",
                    route.name,
                    {"auto_approve_at": round(earned.threshold, 2)},
                    evidence_window(period),
                    period.timezone,
                ),
            )
        )
    return suggestions


def _raised_threshold(route: Route, bands: list[Band]) -> float | None:
    """What a too-low auto_approve_at should become: the threshold people's decisions earn,
    when one is earned above it, else the next band edge up (None: off, from 1.0)."""
    current = route.auto_approve_at
    assert current is not None
    earned = earned_threshold(bands)
    if earned is not None and earned.threshold > current:
        return round(earned.threshold, 2)
    if current >= 1.0:
        return None
    return min(1.0, round(current + 1 / BANDS, 2))


def thresholds_too_low(
    db: Database, period: model.Period, rules: RulesFile, bands: list[q.BandCount]
) -> list[model.Suggestion]:
    """`bands`: window_bands of the period."""
    window = evidence_window(period)
    checks = {row.route: row for row in q.spot_checks(db, *window)}
    by_route = _bands_by_route(bands)
    suggestions = []
    for route in rules.routes:
        threshold = route.auto_approve_at
        if threshold is None:
            continue
        near = [
            b
            for b in bands
            if b.route == route.name and threshold - 0.05 <= b.band / BANDS < threshold
        ]
        check = checks.get(route.name)
        evidence = threshold_too_low(
            threshold,
            checked=check.checked if check else 0,
            wrong=check.wrong if check else 0,
            near_n=sum(b.n for b in near),
            near_contradicted=sum(b.contradicted for b in near),
        )
        if evidence is None:
            continue
        raised = _raised_threshold(route, by_route.get(route.name, []))
        suggestions.append(
            model.Suggestion(
                kind="auto_approve_too_low",
                route=route.name,
                message=(
                    f"Route {route.name}'s auto_approve_at {threshold:.2f} looks too low: "
                    f"{evidence.wrong} of {evidence.checked} spot-checked auto-approvals were "
                    f"judged wrong, and {evidence.near_contradicted} of {evidence.near_n} items "
                    f"just below it were rejected or edited."
                ),
                evidence=evidence.__dict__ | {"window_days": SUGGESTION_WINDOW.days},
                **proposal(
                    "auto_approve_too_low",
                    route.name,
                    {"auto_approve_at": raised},
                    window,
                    period.timezone,
                ),
            )
        )
    return suggestions


def _owner_change(route: Route, decider: str | None) -> dict[str, Any] | None:
    """Make the person who decided the escalated items an owner; where that would not help
    (no such person, already an owner, or owners unlisted so the whole channel may decide,
    which listing one person would restrict), give the owners twice the first step's wait."""
    users = list(route.owner.users)
    if decider and decider[:1] in ("U", "W") and users and decider not in users:
        return {"owner": {"users": [*users, decider]}}
    if not route.escalation:
        return None
    steps = [
        step.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        for step in route.escalation
    ]
    steps[0]["after"] = format_duration(route.escalation[0].after * 2)
    return {"escalation": steps}


def owner_changes(
    escalated: list[model.EscalatedOwner], rules: RulesFile, period: model.Period
) -> list[model.Suggestion]:
    suggestions = []
    for owner in escalated:
        if owner.share < ESCALATED_OWNER_SHARE or owner.escalated < ESCALATED_OWNER_MIN_ITEMS:
            continue
        decider, decided = max(
            owner.decided_by_escalation.items(), key=lambda kv: kv[1], default=(None, 0)
        )
        who = ", ".join(owner.owners) or f"channel {owner.channel}"
        message = (
            f"Route {owner.route}: {owner.escalated} of {owner.items_with_deadline} items "
            f"({owner.share:.0%}) were escalated past {who}."
        )
        if decider:
            message += f" {decider} decided {decided} of them: make {decider} an owner"
            message += ", or give the owners a longer first step."
        route = rules.route_named(owner.route)
        change = _owner_change(route, decider) if route else None
        suggestions.append(
            model.Suggestion(
                kind="change_owner",
                route=owner.route,
                message=message,
                evidence={
                    "escalated": owner.escalated,
                    "items": owner.items_with_deadline,
                    "share": owner.share,
                    "decided_by_escalation": owner.decided_by_escalation,
                },
                # The escalations were counted over the period itself.
                **(
                    proposal(
                        "change_owner",
                        owner.route,
                        change,
                        (period.since, period.until),
                        period.timezone,
                    )
                    if change
                    else {}
                ),
            )
        )
    return suggestions


def rising_rejections(workflows: list[model.GroupFigures]) -> list[model.Suggestion]:
    suggestions = []
    for group in workflows:
        if not rising(group):
            continue
        now, before = group.current, group.previous
        suggestions.append(
            model.Suggestion(
                kind="rejections_rising",
                workflow=group.name,
                message=(
                    f"Workflow {group.name}: rejections rose from {before.rejection_rate:.0%} to "
                    f"{now.rejection_rate:.0%} of decided items; look at what changed "
                    f"(prompt, model, inputs) and at this week's rejection notes."
                ),
                evidence={
                    "rejected_now": now.outcomes.rejected,
                    "decided_now": now.outcomes.approved
                    + now.outcomes.edited
                    + now.outcomes.rejected,
                    "rejected_before": before.outcomes.rejected,
                    "decided_before": before.outcomes.approved
                    + before.outcomes.edited
                    + before.outcomes.rejected,
                },
            )
        )
    return suggestions


# How to test and apply a suggested change ------------------------------------------------


class _RulesDumper(yaml.SafeDumper):
    """Writes lists indented under their key, as the rules example does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _dump(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_RulesDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def proposal_name(kind: str, route: str) -> str:
    """`<kind>-<route>.yml`, the file `hitl digest --proposals DIR` writes the change to
    (and the placeholder the replay command names without it)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]+', '_', route)}.yml"


def replay_command(path: str, window: tuple[datetime, datetime], timezone: str) -> str:
    """`hitl rules replay PATH --since D --until D` over the window, in local dates."""
    zone = ZoneInfo(timezone)
    since, until = (moment.astimezone(zone).date() for moment in window)
    return f"hitl rules replay {shlex.quote(path)} --since {since} --until {until}"


def proposal(
    kind: str,
    route: str,
    change: dict[str, Any],
    window: tuple[datetime, datetime],
    timezone: str,
) -> dict[str, Any]:
    """A suggestion's `rules_change` (the route's changed keys, as YAML) and its
    `replay_command` naming the placeholder file."""
    return {
        "rules_change": _dump({"routes": [{"name": route, **change}]}),
        "replay_command": replay_command(proposal_name(kind, route), window, timezone),
    }


def with_proposal_file(suggestion: model.Suggestion, path: str) -> model.Suggestion:
    """The suggestion whose replay command names `path`, the proposed rules file written."""
    assert suggestion.route is not None and suggestion.replay_command is not None
    placeholder = (
        f"hitl rules replay {shlex.quote(proposal_name(suggestion.kind, suggestion.route))}"
    )
    options = suggestion.replay_command.removeprefix(placeholder)
    return suggestion.model_copy(
        update={
            "proposal_file": path,
            "replay_command": f"hitl rules replay {shlex.quote(path)}{options}",
        }
    )


def _merge(target: dict[str, Any], change: dict[str, Any]) -> None:
    """Mappings are merged key by key; anything else (lists too) is replaced."""
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def apply_rules_change(rules_text: str, rules_change: str, *, note: str = "") -> str:
    """The whole rules file with a suggestion's `rules_change` applied to its routes.

    Read and written with PyYAML: the values survive, the comments do not (`note`, if
    given, heads the file instead). ValueError when a route it names is not in the file."""
    data = yaml.safe_load(rules_text)
    change = yaml.safe_load(rules_change)
    routes = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(routes, list):
        raise ValueError("the rules file has no `routes` list")
    for proposed in change["routes"]:
        name = proposed["name"]
        target = next((r for r in routes if isinstance(r, dict) and r.get("name") == name), None)
        if target is None:
            raise ValueError(f"the rules file has no route named {name!r}")
        _merge(target, {key: value for key, value in proposed.items() if key != "name"})
    header = "".join(f"# {line}\n" for line in note.splitlines())
    return header + _dump(data)

"""Rule changes the record supports, each with its evidence."""

from datetime import timedelta

from digest import model
from digest.friction import ESCALATED_OWNER_MIN_ITEMS, ESCALATED_OWNER_SHARE, rising
from digest.stats import Band, earned_threshold, threshold_too_low
from rules import RulesFile
from storage import digest_queries as q
from storage.db import Database

BANDS = 20  # confidence bands 0.05 wide
SUGGESTION_WINDOW = timedelta(days=28)  # thresholds are earned over weeks, not one week


def window_bands(db: Database, period: model.Period) -> list[q.BandCount]:
    """Human decisions per route and confidence band over the suggestion window."""
    return q.confidence_bands(db, period.until - SUGGESTION_WINDOW, period.until, BANDS)


def earned_thresholds(bands: list[q.BandCount], rules: RulesFile) -> list[model.Suggestion]:
    """`bands`: window_bands of the period."""
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
    suggestions = []
    for route in rules.routes:
        earned = earned_threshold(sorted(by_route.get(route.name, []), key=lambda b: b.lower))
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
            )
        )
    return suggestions


def thresholds_too_low(
    db: Database, period: model.Period, rules: RulesFile, bands: list[q.BandCount]
) -> list[model.Suggestion]:
    """`bands`: window_bands of the period."""
    since = period.until - SUGGESTION_WINDOW
    checks = {row.route: row for row in q.spot_checks(db, since, period.until)}
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
            )
        )
    return suggestions


def owner_changes(escalated: list[model.EscalatedOwner]) -> list[model.Suggestion]:
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

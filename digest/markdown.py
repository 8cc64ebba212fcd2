"""The digest as Markdown, for `hitl digest` and for pasting into an operating review."""

from digest.field_edits import describe as describe_field_edit
from digest.model import Change, Digest, DriftAlert, Example, Figures, GroupFigures, Suggestion


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _signed(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:+g}{unit}"


def _row(group: GroupFigures) -> str:
    f: Figures = group.current
    o = f.outcomes
    c: Change = group.change
    return (
        f"| {group.name} | {f.volume} ({_signed(c.volume_pct, '%')}) "
        f"| {_pct(f.auto_approved_share)} "
        f"| {o.approved} / {o.edited} / {o.rejected} / {o.expired} / {o.cancelled} "
        f"| {_pct(f.rejection_rate)} ({_signed(c.rejection_rate_points, ' pt')}) "
        f"| {_minutes(f.decision_minutes_median)} / {_minutes(f.decision_minutes_p90)} "
        f"| {f.waited_past_first_deadline} | {f.escalated_items} |"
    )


_TABLE_HEAD = (
    "| {what} | volume (vs prev.) | auto-approved | approved / edited / rejected / expired / "
    "cancelled | rejection rate | time to decision (median / p90) | past first deadline "
    "| escalated |\n|---|---|---|---|---|---|---|---|"
)


def _example(example: Example) -> str:
    title = example.title if len(example.title) <= 80 else example.title[:79] + "…"
    text = f"[{title}]({example.link})" if example.link else f"{title} (`{example.item_id}`)"
    return f"{text}: “{example.note}”" if example.note else text


def drift_summary(alert: DriftAlert) -> str:
    """One alert without its workflow: "rejection rate 5% → 40% (model gpt-x), rising
    since 2026-11-18 09:00 UTC, detected 2026-11-18 14:00 UTC; still open"."""
    where = "" if alert.dimension == "overall" else f" ({alert.dimension} {alert.value})"
    state = "still open" if alert.status == "open" else alert.status
    return (
        f"{alert.metric} rate {alert.baseline_rate:.0%} → {alert.recent_rate:.0%}{where}, "
        f"rising since {alert.began_at:%Y-%m-%d %H:%M} UTC, detected "
        f"{alert.detected_at:%Y-%m-%d %H:%M} UTC; {state}"
    )


def how_to_test(suggestion: Suggestion) -> str:
    """What to do with a suggestion's rules change, around its replay command."""
    if suggestion.proposal_file:
        return f"`{suggestion.proposal_file}` holds your rules with this change; test it with"
    return (
        "Apply the change to a copy of your rules file (or let `hitl digest --proposals DIR` "
        "write it), then test it over the evidence with"
    )


def _suggestion(suggestion: Suggestion) -> list[str]:
    lines = [f"- {suggestion.message}"]
    if suggestion.rules_change:
        lines += ["", "  ```yaml", *(f"  {line}" for line in suggestion.rules_change.splitlines())]
        lines += ["  ```", ""]
    if suggestion.replay_command:
        lines += [f"  {how_to_test(suggestion)}", "", "  ```sh", f"  {suggestion.replay_command}"]
        lines += ["  ```", ""]
    return lines


def render(digest: Digest) -> str:
    period = digest.period
    lines = [
        f"# Friction digest {period.label}",
        "",
        f"{period.since:%Y-%m-%d %H:%M} to {period.until:%Y-%m-%d %H:%M} UTC "
        f"({period.timezone}), compared with the {((period.until - period.since).days)} days "
        "before.",
        "",
        "## Top friction this week",
        "",
    ]
    if digest.top_friction:
        for friction in digest.top_friction:
            lines.append(
                f"{friction.rank}. {friction.title} — {friction.rejections} rejections, "
                f"{friction.reworked} reworked, {friction.escalations} escalations, "
                f"{friction.waiting_hours:g} h waited"
            )
    else:
        lines.append("Nothing recurring stands out this period.")
    lines += ["", "## Suggested rule changes", ""]
    if digest.suggestions:
        for suggestion in digest.suggestions:
            lines += _suggestion(suggestion)
        while lines[-1] == "":
            lines.pop()
    else:
        lines.append("None: the record supports no change yet.")
    lines += ["", "## Drift alerts", ""]
    if not digest.drift_alerts:
        span = "week" if "-W" in period.label else "period"
        lines.append(f"No drift alerts this {span}.")
    for alert in digest.drift_alerts:
        lines.append(f"- **{alert.workflow}**: {drift_summary(alert)} (`{alert.id}`)")
    totals = digest.totals.current
    lines += [
        "",
        "## Figures",
        "",
        f"{totals.volume} items ({_signed(digest.totals.change.volume_pct, '%')} against the "
        f"previous period), {_pct(totals.auto_approved_share)} auto-approved, "
        f"{_pct(totals.human_share)} needing a person.",
        "",
        _TABLE_HEAD.format(what="route"),
        *(_row(group) for group in digest.routes),
        "",
        _TABLE_HEAD.format(what="workflow"),
        *(_row(group) for group in digest.workflows),
        "",
        "## Why items are rejected",
        "",
    ]
    if not digest.rejections:
        lines.append("No rejections.")
    for group in digest.rejections[:10]:
        lines.append(
            f"- **{group.route} / {group.reason}**: {group.count} "
            f"({group.share_of_route_rejections:.0%} of the route's rejections; "
            f"{group.previous_count} the period before, {group.trend})"
        )
        lines += [f"  - {_example(example)}" for example in group.examples]
    lines += ["", "## Edits reviewers keep making", ""]
    if not digest.recurring_edits:
        lines.append("No edit recurs across items.")
    for edit in digest.recurring_edits[:10]:
        if edit.kind == "deleted":
            what = f"delete “{edit.before}”"
        elif edit.kind == "added":
            what = f"add “{edit.after}”"
        else:
            what = f"change “{edit.before}” → “{edit.after}”"
        lines.append(
            f"- **{edit.workflow}**: {what} — in {edit.items} of {edit.edited_items} edited items"
        )
        lines += [f"  - {_example(example)}" for example in edit.examples]
    if digest.recurring_field_edits:
        lines += ["", "## Fields reviewers keep changing", ""]
    for field_edit in digest.recurring_field_edits[:10]:
        lines.append(f"- **{field_edit.workflow}**: {describe_field_edit(field_edit)}")
        lines += [f"  - {_example(example)}" for example in field_edit.examples]
    lines += ["", "## Where items wait", ""]
    for wait in digest.reviewer_waits:
        lines.append(
            f"- {wait.user}: {wait.decided} decided, items had waited "
            f"{_minutes(wait.average_minutes)} on average "
            f"(longest {_minutes(wait.longest_minutes)})"
        )
    for owner in digest.escalated_owners:
        who = ", ".join(owner.owners) or owner.channel
        lines.append(
            f"- {owner.route}: {owner.escalated} of {owner.items_with_deadline} items "
            f"({owner.share:.0%}) escalated past {who}"
        )
    if not digest.reviewer_waits and not digest.escalated_owners:
        lines.append("Nobody decided anything this period.")
    return "\n".join(lines) + "\n"

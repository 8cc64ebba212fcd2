"""Recurring friction: rejection reasons, repeated edits, slow waits, escalated owners, and
the ranking of all of it by what it costs."""

from collections.abc import Callable

from digest import model
from digest.edits import EditMiner
from digest.stats import rate_rising
from rules import RulesFile
from storage import digest_queries as q
from storage.db import Database
from storage.digest_decisions import Decisions

Linker = Callable[[q.Example], model.Example]
ESCALATED_OWNER_SHARE = 0.5
ESCALATED_OWNER_MIN_ITEMS = 10
MIN_REJECTIONS_FOR_FRICTION = 3


def rejections(
    db: Database, periods: q.TwoPeriods, decided: Decisions, link: Linker
) -> list[model.RejectionGroup]:
    """`decided`: digest_decisions.decisions of the periods."""
    now, previous = decided.rejections
    before = {(r.route, r.reason): r.count for r in previous}
    examples = q.rejection_examples(db, periods.since, periods.until) if now else {}
    per_route: dict[str, int] = {}
    for row in now:
        per_route[row.route] = per_route.get(row.route, 0) + row.count
    groups = []
    for row in sorted(now, key=lambda r: (-r.count, r.route, r.reason)):
        earlier = before.get((row.route, row.reason), 0)
        trend = (
            "new"
            if earlier == 0
            else (
                "up"
                if row.count > earlier * 1.2
                else "down"
                if row.count < earlier * 0.8
                else "flat"
            )
        )
        groups.append(
            model.RejectionGroup(
                route=row.route,
                reason=row.reason,
                count=row.count,
                previous_count=earlier,
                trend=trend,
                share_of_route_rejections=round(row.count / per_route[row.route], 3),
                waiting_hours=round(row.waiting_hours, 2),
                examples=[link(e) for e in examples.get((row.route, row.reason), [])],
            )
        )
    return groups


def recurring_edits(db: Database, period: model.Period, link: Linker) -> list[model.RecurringEdit]:
    found: list[model.RecurringEdit] = []
    miner: EditMiner | None = None
    workflow: str | None = None

    def harvest() -> None:
        if miner is None or workflow is None:
            return
        for edit in miner.recurring():
            found.append(
                model.RecurringEdit(
                    workflow=workflow,
                    kind=edit.kind,
                    text=edit.key,
                    before=edit.before,
                    after=edit.after,
                    items=edit.items,
                    edited_items=miner.edited_items,
                    share_of_edits=round(edit.items / miner.edited_items, 3),
                    examples=[link(e) for e in q.item_examples(db, list(edit.examples))],
                )
            )

    for row in q.edited_items(db, period.since, period.until):
        if row.workflow != workflow:
            harvest()
            workflow, miner = row.workflow, EditMiner()
        assert miner is not None
        if isinstance(row.output, str) and isinstance(row.final_output, str):
            miner.add(row.item_id, row.output, row.final_output)  # structured: field_edits
    harvest()
    found.sort(key=lambda edit: -edit.items)
    return found


def reviewer_waits(decided: Decisions) -> list[model.ReviewerWait]:
    """`decided`: digest_decisions.decisions of the periods."""
    waits = sorted(decided.reviewer_waits, key=lambda w: -w.average_minutes)
    return [
        model.ReviewerWait(
            user=w.user,
            decided=w.decided,
            average_minutes=round(w.average_minutes, 1),
            longest_minutes=round(w.longest_minutes, 1),
        )
        for w in waits[:5]
    ]


def escalated_owners(
    decided: Decisions, rules: RulesFile, counts: dict[str, q.GroupCounts]
) -> list[model.EscalatedOwner]:
    """`decided`: digest_decisions.decisions of the periods; `counts`: the period's
    q.group_counts per route."""
    deciders: dict[str, dict[str, int]] = {}
    for row in decided.escalation_deciders:
        deciders.setdefault(row.route, {})[row.user] = row.decided
    owners = []
    for route in rules.routes:
        count = counts.get(route.name)
        if count is None or not route.escalation:
            continue
        with_deadline = count.volume - count.auto_approved
        if not with_deadline or not count.escalated_items:
            continue
        owners.append(
            model.EscalatedOwner(
                route=route.name,
                owners=list(route.owner.users),
                channel=route.owner.channel,
                items_with_deadline=with_deadline,
                escalated=count.escalated_items,
                share=round(count.escalated_items / with_deadline, 3),
                waiting_hours=round(count.escalated_waiting_hours, 2),
                decided_by_escalation=deciders.get(route.name, {}),
            )
        )
    owners.sort(key=lambda owner: -owner.share)
    return owners


def rank(
    rejections: list[model.RejectionGroup],
    edits: list[model.RecurringEdit],
    escalated: list[model.EscalatedOwner],
    workflows: list[model.GroupFigures],
) -> list[model.Friction]:
    """What costs most, by rejections, rework, escalations and hours waited, first."""
    candidates: list[model.Friction] = []
    for group in rejections:
        if group.count >= MIN_REJECTIONS_FOR_FRICTION:
            candidates.append(
                friction(
                    "rejection_reason",
                    f"{group.count} {group.route} items rejected as {group.reason} "
                    f"({group.share_of_route_rejections:.0%} of the route's rejections, "
                    f"{group.trend})",
                    rejections=group.count,
                    waiting_hours=group.waiting_hours,
                )
            )
    for edit in edits:
        candidates.append(
            friction(
                "recurring_edit",
                f"{edit.workflow}: reviewers {edit_verb(edit)} in {edit.items} of "
                f"{edit.edited_items} edits",
                reworked=edit.items,
            )
        )
    for owner in escalated:
        if owner.share >= ESCALATED_OWNER_SHARE and owner.escalated >= ESCALATED_OWNER_MIN_ITEMS:
            who = ", ".join(owner.owners) or owner.channel
            candidates.append(
                friction(
                    "escalated_owner",
                    f"{owner.route}: {owner.escalated} of {owner.items_with_deadline} items "
                    f"escalated past {who}",
                    escalations=owner.escalated,
                    waiting_hours=owner.waiting_hours,
                )
            )
    for workflow in workflows:
        if rising(workflow):
            previous, current = workflow.previous, workflow.current
            candidates.append(
                friction(
                    "rising_rejections",
                    f"{workflow.name}: rejection rate rose from {previous.rejection_rate:.0%} "
                    f"to {current.rejection_rate:.0%}",
                    rejections=current.outcomes.rejected - previous.outcomes.rejected,
                )
            )
    candidates.sort(key=lambda friction: -friction.score)
    return [f.model_copy(update={"rank": n}) for n, f in enumerate(candidates[:8], start=1)]


def friction(
    kind: str,
    title: str,
    *,
    rejections: int = 0,
    reworked: int = 0,
    escalations: int = 0,
    waiting_hours: float = 0.0,
) -> model.Friction:
    return model.Friction(
        rank=0,
        kind=kind,
        title=title,
        rejections=rejections,
        reworked=reworked,
        escalations=escalations,
        waiting_hours=round(waiting_hours, 1),
        score=round(rejections + reworked + escalations + waiting_hours, 1),
    )


def edit_verb(edit: model.RecurringEdit) -> str:
    if edit.kind == "deleted":
        return f"delete “{edit.before}”"
    if edit.kind == "added":
        return f"add “{edit.after}”"
    return f"change “{edit.before}” to “{edit.after}”"


def rising(group: model.GroupFigures) -> bool:
    now, before = group.current, group.previous
    now_n = now.outcomes.approved + now.outcomes.edited + now.outcomes.rejected
    before_n = before.outcomes.approved + before.outcomes.edited + before.outcomes.rejected
    return rate_rising(now.outcomes.rejected, now_n, before.outcomes.rejected, before_n)

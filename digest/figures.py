"""Per-route and per-workflow figures of a period, and their change against the previous one."""

from digest import model
from storage import digest_percentiles
from storage import digest_queries as q
from storage.db import Database


def figures(counts: q.GroupCounts | None, minutes: list[float | None] | None) -> model.Figures:
    if counts is None:
        return model.Figures()
    human = counts.approved + counts.edited + counts.rejected
    volume = counts.volume
    return model.Figures(
        volume=volume,
        auto_approved_share=counts.auto_approved / volume if volume else None,
        human_share=(volume - counts.auto_approved) / volume if volume else None,
        outcomes=model.Outcomes(
            approved=counts.approved,
            edited=counts.edited,
            rejected=counts.rejected,
            expired=counts.expired,
            cancelled=counts.cancelled,
            auto_approved=counts.auto_approved,
            pending=counts.pending,
        ),
        rejection_rate=counts.rejected / human if human else None,
        decision_minutes_median=(minutes or [None, None])[0],
        decision_minutes_p90=(minutes or [None, None])[1],
        waited_past_first_deadline=counts.waited_past_first_deadline,
        escalated_items=counts.escalated_items,
        escalation_steps=counts.escalation_steps,
        waiting_hours=round(counts.waiting_hours, 2),
    )


def change(current: model.Figures, previous: model.Figures) -> model.Change:
    rate_points = None
    if current.rejection_rate is not None and previous.rejection_rate is not None:
        rate_points = round((current.rejection_rate - previous.rejection_rate) * 100, 1)
    median = None
    if current.decision_minutes_median is not None and previous.decision_minutes_median is not None:
        median = round(current.decision_minutes_median - previous.decision_minutes_median, 1)
    return model.Change(
        volume=current.volume - previous.volume,
        volume_pct=(
            round((current.volume - previous.volume) / previous.volume * 100, 1)
            if previous.volume
            else None
        ),
        rejection_rate_points=rate_points,
        decision_minutes_median=median,
        escalated_items=current.escalated_items - previous.escalated_items,
    )


def groups(
    counts: tuple[q.Grouped, q.Grouped],
    minutes: dict[str, digest_percentiles.Percentiles],
    by: str,
) -> list[model.GroupFigures]:
    """Figures per route or per workflow (`by`), largest volume first, from the (current,
    previous) counts of q.group_counts and the percentiles of decision_minutes."""
    now_counts, before_counts = counts[0][by], counts[1][by]
    minutes_of = minutes[by]
    groups = []
    for name in sorted(set(now_counts) | set(before_counts)):
        current = figures(now_counts.get(name), minutes_of.get((True, name)))
        before = figures(before_counts.get(name), minutes_of.get((False, name)))
        groups.append(
            model.GroupFigures(
                name=name, current=current, previous=before, change=change(current, before)
            )
        )
    groups.sort(key=lambda group: -group.current.volume)
    return groups


def decision_minutes(
    db: Database, periods: q.TwoPeriods
) -> dict[str, digest_percentiles.Percentiles]:
    """Median and p90 of the minutes to a human decision, per route and per workflow."""
    return digest_percentiles.decision_minutes(db, periods, (0.5, 0.9))


def two_periods(period: model.Period, previous: model.Period) -> q.TwoPeriods:
    if previous.until != period.since:
        raise ValueError("the previous period must end where the period starts")
    return q.TwoPeriods(previous_since=previous.since, since=period.since, until=period.until)


def total(routes: list[model.GroupFigures]) -> model.GroupFigures:
    def add(figures: list[model.Figures]) -> model.Figures:
        outcomes = model.Outcomes(
            **{
                field: sum(getattr(f.outcomes, field) for f in figures)
                for field in model.Outcomes.model_fields
            }
        )
        volume = sum(f.volume for f in figures)
        human = outcomes.approved + outcomes.edited + outcomes.rejected
        return model.Figures(
            volume=volume,
            auto_approved_share=outcomes.auto_approved / volume if volume else None,
            human_share=(volume - outcomes.auto_approved) / volume if volume else None,
            outcomes=outcomes,
            rejection_rate=outcomes.rejected / human if human else None,
            waited_past_first_deadline=sum(f.waited_past_first_deadline for f in figures),
            escalated_items=sum(f.escalated_items for f in figures),
            escalation_steps=sum(f.escalation_steps for f in figures),
            waiting_hours=round(sum(f.waiting_hours for f in figures), 2),
        )

    current = add([group.current for group in routes])
    previous = add([group.previous for group in routes])
    return model.GroupFigures(
        name="all routes", current=current, previous=previous, change=change(current, previous)
    )

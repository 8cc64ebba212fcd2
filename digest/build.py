"""Builds the digest of a period: SQL aggregates in, ranked friction and suggestions out."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from digest import model
from digest.field_edits import recurring_field_edits
from digest.figures import decision_minutes, groups, total, two_periods
from digest.friction import (
    Linker,
    escalated_owners,
    rank,
    recurring_edits,
    rejections,
    reviewer_waits,
)
from digest.suggestions import (
    earned_thresholds,
    owner_changes,
    rising_rejections,
    thresholds_too_low,
    window_bands,
)
from rules import RulesFile
from storage import digest_queries as q
from storage.db import Database
from storage.digest_decisions import decisions


def build_digest(
    db: Database,
    rules: RulesFile,
    period: model.Period,
    *,
    now: datetime,
    team_url: str | None = None,
) -> model.Digest:
    previous = model.Period(
        label=f"previous {period.label}",
        since=period.since - (period.until - period.since),
        until=period.since,
        timezone=period.timezone,
    )
    link = linker(team_url)
    periods = two_periods(period, previous)
    # A second thread diffs the edits (in Python) and counts the confidence bands while
    # this one aggregates the rest: SQLite (in this process) and PostgreSQL work without
    # holding the GIL, so with a second core the two halves overlap. Neither depends on
    # the other's results.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as pool:
        mined = pool.submit(recurring_edits, db, period, link)
        banded = pool.submit(window_bands, db, period)
        # Each question is asked once, for both periods where it concerns both.
        counts = q.group_counts(db, periods)
        minutes = decision_minutes(db, periods)
        routes = groups(counts, minutes, "route")
        workflows = groups(counts, minutes, "workflow")
        decided = decisions(db, periods)
        rejected = rejections(db, periods, decided, link)
        escalated = escalated_owners(decided, rules, counts[0]["route"])
        edits, bands = mined.result(), banded.result()
    return model.Digest(
        period=period,
        previous_period=previous,
        generated_at=now,
        totals=total(routes),
        routes=routes,
        workflows=workflows,
        top_friction=rank(rejected, edits, escalated, workflows),
        rejections=rejected,
        recurring_edits=edits,
        recurring_field_edits=recurring_field_edits(db, period, link),
        reviewer_waits=reviewer_waits(decided),
        escalated_owners=escalated,
        suggestions=[
            *earned_thresholds(bands, rules, period),
            *thresholds_too_low(db, period, rules, bands),
            *owner_changes(escalated, rules, period),
            *rising_rejections(workflows),
        ],
        drift_alerts=drift_alerts(db, period),
    )


def drift_alerts(db: Database, period: model.Period) -> list[model.DriftAlert]:
    """The drift alarms raised in the period (detected in it), oldest first."""
    return [model.DriftAlert(**vars(row)) for row in q.drift_alerts(db, period.since, period.until)]


def linker(team_url: str | None) -> Linker:
    """Examples link to their Slack message when the workspace URL is known."""

    def link(example: q.Example) -> model.Example:
        url = None
        if team_url and example.message_ts:
            url = (
                f"{team_url.rstrip('/')}/archives/{example.channel}/"
                f"p{example.message_ts.replace('.', '')}"
            )
        return model.Example(
            item_id=example.item_id, title=example.title, note=example.note, link=url
        )

    return link

"""The friction digest over a generated history: planted patterns are found, a history
without them reports none of them."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from digest import markdown, periods
from digest.build import build_digest
from digest.model import Digest
from rules import load_rules_text
from storage.db import Database
from storage.models import ReviewItem
from tests.history import HISTORY_RULES, PLANTED, generate_history

RULES = load_rules_text(HISTORY_RULES).rules
ZONE = RULES.tzinfo
WEEK = periods.week("2026-W46", ZONE)
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _digest(db: Database, planted: frozenset[str] | tuple[()] = PLANTED) -> Digest:
    generate_history(db, week_start=WEEK.since, weeks=4, planted=planted)
    return build_digest(
        db, RULES, WEEK, now=WEEK.until + timedelta(hours=9), team_url="https://acme.slack.com/"
    )


def test_the_digest_finds_every_planted_pattern(db: Database) -> None:
    digest = _digest(db)

    top_rejection = digest.rejections[0]
    assert (top_rejection.route, top_rejection.reason) == ("invoices", "wrong_amount")
    assert top_rejection.share_of_route_rejections >= 0.8
    assert top_rejection.examples and top_rejection.examples[0].note
    link = top_rejection.examples[0].link
    assert link is not None
    assert link.startswith("https://acme.slack.com/archives/C0APREVIEW/p")

    deleted = [e for e in digest.recurring_edits if e.workflow == "support-replies"]
    assert deleted and deleted[0].kind == "deleted"
    assert deleted[0].text == "as an ai language model"
    assert deleted[0].share_of_edits >= 0.5 and len(deleted[0].examples) >= 2

    contracts = next(o for o in digest.escalated_owners if o.route == "contracts")
    assert contracts.share >= 0.8 and contracts.owners == ["U0ERIN"]

    kinds = {(s.kind, s.route or s.workflow) for s in digest.suggestions}
    assert ("change_owner", "contracts") in kinds
    assert ("auto_approve_earned", "faq") in kinds
    assert ("rejections_rising", "refunds") in kinds
    earned = next(s for s in digest.suggestions if s.kind == "auto_approve_earned")
    assert earned.evidence["items"] >= 30 and earned.evidence["lower_bound"] >= 0.95
    assert 0.85 <= earned.evidence["threshold"] <= 0.95
    owner = next(s for s in digest.suggestions if s.kind == "change_owner")
    assert "U0LEGALLEAD" in owner.message

    # The top of the digest is what costs most: these patterns, not noise.
    top_kinds = {f.kind for f in digest.top_friction[:5]}
    assert {"rejection_reason", "recurring_edit", "escalated_owner"} <= top_kinds
    assert digest.top_friction[0].score >= digest.top_friction[-1].score


def test_a_history_without_the_patterns_reports_none_of_them(db: Database) -> None:
    digest = _digest(db, planted=())
    assert digest.suggestions == []
    assert digest.recurring_edits == []
    assert all(
        group.share_of_route_rejections < 0.8 for group in digest.rejections if group.count >= 5
    )
    assert all(o.share < 0.5 for o in digest.escalated_owners)
    assert not [
        f
        for f in digest.top_friction
        if f.kind in ("escalated_owner", "recurring_edit", "rising_rejections")
    ]


def test_figures_per_route_and_change_against_the_previous_week(db: Database) -> None:
    digest = _digest(db)
    refunds = next(g for g in digest.workflows if g.name == "refunds")
    current_rate, previous_rate = refunds.current.rejection_rate, refunds.previous.rejection_rate
    assert current_rate is not None and previous_rate is not None
    assert current_rate > previous_rate + 0.2
    rate_change = refunds.change.rejection_rate_points
    assert rate_change is not None and rate_change > 20
    invoices = next(g for g in digest.routes if g.name == "invoices")
    figures = invoices.current
    o = figures.outcomes
    assert figures.volume == sum(o.model_dump().values())
    median, p90 = figures.decision_minutes_median, figures.decision_minutes_p90
    assert median is not None and p90 is not None
    assert median <= p90
    assert digest.totals.current.volume == sum(g.current.volume for g in digest.routes)
    for group in digest.routes:
        auto_share, human_share = group.current.auto_approved_share, group.current.human_share
        assert auto_share is not None and human_share is not None, group.name
        assert abs(auto_share + human_share - 1) < 1e-9


def test_markdown_leads_with_the_friction_worth_a_meeting(db: Database) -> None:
    digest = _digest(db)
    text = markdown.render(digest)
    assert text.startswith("# Friction digest 2026-W46")
    assert text.index("## Top friction this week") < text.index("## Figures")
    assert "wrong_amount" in text and "as an ai language model".lower() in text.lower()
    earned = next(s for s in digest.suggestions if s.kind == "auto_approve_earned")
    assert f"auto_approve_at: {earned.evidence['threshold']:.2f}" in text


def test_the_json_shape_is_the_documented_one(db: Database) -> None:
    import jsonschema

    document = json.loads(_digest(db).model_dump_json())
    schema = json.loads((DOCS / "digest.schema.json").read_text())
    assert schema == Digest.model_json_schema(mode="serialization"), (
        "the digest's JSON shape changed: update docs/digest.schema.json and docs/digest.md"
    )
    jsonschema.validate(document, schema)
    assert document["schema_version"] == 1
    assert document["period"]["label"] == "2026-W46"


def test_spot_checks_that_contradict_auto_approval_suggest_a_higher_threshold(
    db: Database,
) -> None:
    from sqlmodel import select

    from storage.models import SpotCheck, Status

    generate_history(db, week_start=WEEK.since, weeks=4, planted=())
    quiet = build_digest(db, RULES, WEEK, now=WEEK.until)
    assert not [s for s in quiet.suggestions if s.kind == "auto_approve_too_low"]
    with db.write() as session:
        auto = session.exec(
            select(ReviewItem).where(ReviewItem.status == Status.AUTO_APPROVED)
        ).all()
        assert len(auto) >= 20
        for n, item in enumerate(auto):  # a reviewer finds every third one wrong
            verdict = "wrong" if n % 3 == 0 else "ok"
            session.add(
                SpotCheck(
                    item_id=item.id,
                    user_id="U0ALICE",
                    verdict=verdict,
                    at=item.created_at + timedelta(hours=1),
                )
            )
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)
    too_low = [s for s in digest.suggestions if s.kind == "auto_approve_too_low"]
    assert [s.route for s in too_low] == ["invoices"]
    assert too_low[0].evidence["wrong"] >= 5 and too_low[0].evidence["wrong_lower_bound"] > 0.05


def _minutes_to_decide(item: ReviewItem) -> float:
    assert item.decided_at is not None, f"decided item {item.id} has no decided_at"
    return (item.decided_at - item.created_at).total_seconds() / 60


def _percentile(values: list[float], share: float) -> float | None:
    """percentile_cont: linear interpolation between the ranks around share * (n - 1)."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    lower = int(position)
    if lower + 1 >= len(ordered):
        return ordered[lower]
    return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * (position - lower)


def test_figures_match_the_items_counted_one_by_one(db: Database) -> None:
    """Every route's and workflow's counts and median/p90 wait, in both periods, as a
    person would work them out from the items themselves."""
    from sqlmodel import select

    from storage.models import Status

    digest = _digest(db)
    with db.read() as session:
        items = session.exec(select(ReviewItem)).all()
    previous = digest.previous_period
    for grouping, groups in (("route", digest.routes), ("workflow", digest.workflows)):
        for group in groups:
            for figures, period in ((group.current, WEEK), (group.previous, previous)):
                mine = [
                    item
                    for item in items
                    if getattr(item, grouping) == group.name
                    and period.since <= item.created_at < period.until
                ]
                assert figures.volume == len(mine)
                outcomes = figures.outcomes.model_dump()
                assert outcomes == {s.value: sum(i.status == s for i in mine) for s in Status}
                assert figures.escalated_items == sum(i.escalation_level > 0 for i in mine)
                waits = [
                    _minutes_to_decide(i)
                    for i in mine
                    if i.status in (Status.APPROVED, Status.EDITED, Status.REJECTED)
                ]
                for found, share in (
                    (figures.decision_minutes_median, 0.5),
                    (figures.decision_minutes_p90, 0.9),
                ):
                    expected = _percentile(waits, share)
                    assert (found is None) == (expected is None)
                    if expected is not None:
                        assert found == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_on_sqlite_the_period_scans_never_read_the_items_table_whole(tmp_path: Path) -> None:
    """Every period scan goes through an index (ix_review_item_digest for the aggregates,
    which covers them): a digest over millions of items must not read every item. The
    decisions of a period's items are read from ix_decision_digest alone, not the table."""
    from sqlalchemy import event

    db = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        from storage.migrate import migrate

        migrate(db)
        generate_history(db, week_start=WEEK.since, weeks=2, planted=())
        plans: list[str] = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def explain(conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "review_item" in statement and not statement.startswith("EXPLAIN"):
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append(" | ".join(str(row[-1]) for row in rows))

        build_digest(db, RULES, WEEK, now=WEEK.until)
    finally:
        db.dispose()
    assert plans
    assert not [plan for plan in plans if "SCAN review_item" in plan], plans
    assert not [plan for plan in plans if "SCAN decision" in plan], plans
    covered = [plan for plan in plans if "COVERING INDEX ix_review_item_digest" in plan]
    assert len(covered) >= 4, plans
    # Only the reads of item texts (rejection examples, edited outputs, edited structured
    # outputs: digest/field_edits.py) need the table.
    uncovered = [plan for plan in plans if "USING INDEX ix_review_item_digest" in plan]
    assert len(uncovered) <= 3, plans
    assert [plan for plan in plans if "COVERING INDEX ix_decision_digest" in plan], plans

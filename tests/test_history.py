"""The generated review history keeps its promises, checked on the rows themselves.

The digest tests trust this data: planted patterns must be there, strong enough to find, and
the baseline must hold nothing that looks like a pattern. These checks read the tables with
plain queries, never digest code.
"""

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Text, cast, func, select
from sqlmodel import col

from rules.loader import load_rules_text
from storage.db import Database
from storage.migrate import migrate
from storage.models import Decision, ReviewItem, Status
from tests.history import (
    AI_PHRASE,
    HISTORY_RULES,
    PLANTED,
    ROUTES,
    RULES_VERSION,
    SNAPSHOTS,
    bulk_decided_items,
    generate_history,
)

# Monday 2026-11-16 00:00 in Berlin: the last generated week is the one starting here.
WEEK = datetime(2026, 11, 16, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
LAST, BEFORE_LAST = 0, -1
HUMAN = (Status.APPROVED, Status.EDITED, Status.REJECTED)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate(database)
    yield database
    database.dispose()


@dataclass(frozen=True)
class Row:
    item: ReviewItem
    decision: Decision | None

    @property
    def week(self) -> int:
        """0 for the last generated week, -1 for the one before, and so on."""
        return (self.item.created_at - WEEK) // timedelta(weeks=1)

    @property
    def status(self) -> str:
        return self.item.status

    @property
    def output(self) -> str:
        return text(self.item.output)


def text(output: object) -> str:
    """A generated item's output or final output: always text (no structured items)."""
    assert isinstance(output, str), output
    return output


def load(db: Database) -> list[Row]:
    query = select(ReviewItem, Decision).outerjoin(
        Decision, col(Decision.item_id) == col(ReviewItem.id)
    )
    with db.read() as session:
        return [Row(item, decision) for item, decision in session.execute(query)]


def by_route_week(rows: list[Row]) -> dict[tuple[str, int], list[Row]]:
    groups: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.item.route, row.week].append(row)
    return groups


def share(rows: list[Row], *statuses: str) -> float:
    return sum(row.status in statuses for row in rows) / len(rows)


def changes(before: str, after: str) -> list[tuple[str, str]]:
    """What an edit changed, word by word: (removed, added) for each changed stretch."""
    old, new = before.split(), after.split()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [
        (" ".join(old[i1:i2]), " ".join(new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def test_history_rules_are_a_valid_rules_file() -> None:
    loaded = load_rules_text(HISTORY_RULES)
    assert loaded.version == RULES_VERSION
    assert loaded.rules.timezone == "Europe/Berlin"
    assert loaded.rules.digest is not None
    assert (loaded.rules.digest.channel, loaded.rules.digest.schedule) == (
        "C0OPSREVIEW",
        "mon 09:00",
    )
    assert [route.name for route in loaded.rules.routes] == [
        "invoices",
        "support",
        "contracts",
        "faq",
        "refunds",
    ]
    assert ROUTES["faq"].auto_approve_at is None  # the digest may suggest one
    assert [step.to for step in ROUTES["contracts"].escalation] == [["U0LEGALLEAD"]]


def test_rows_are_what_the_bot_would_have_stored(db: Database) -> None:
    generate_history(db, week_start=WEEK)
    rows = load(db)
    assert {row.week for row in rows} == {-3, -2, -1, 0}
    assert len({row.item.id for row in rows}) == len(rows)
    assert all(re.fullmatch(r"rv_[0-9A-Z]{26}", row.item.id) for row in rows)
    posted = [row.item.message_ts for row in rows if row.status != Status.AUTO_APPROVED]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts or "") for ts in posted)
    assert len(set(posted)) == len(posted)
    for row in rows:
        item, decision, route = row.item, row.decision, ROUTES[row.item.route]
        week_end = WEEK + timedelta(weeks=row.week + 1)
        assert item.route_snapshot == SNAPSHOTS[item.route]
        assert item.rules_version == RULES_VERSION
        assert (item.workflow, item.channel) == (route.match.workflow, route.owner.channel)
        assert 0 <= item.confidence <= 1
        if item.status == Status.PENDING:
            assert decision is None and item.decided_at is None and item.final_output is None
            assert row.week == LAST
            continue
        assert decision is not None and decision.status == item.status
        assert decision.at == item.decided_at
        assert item.created_at <= item.decided_at < week_end
        assert (
            item.final_output
            == {
                Status.APPROVED: item.output,
                Status.AUTO_APPROVED: item.output,
                Status.EDITED: item.final_output,
                Status.REJECTED: None,
                Status.EXPIRED: None,
            }[item.status]
        )
        if item.status == Status.EDITED:
            assert item.final_output and item.final_output != item.output
        if item.status == Status.REJECTED:
            assert decision.reason in route.reject_reasons
        if item.status in (Status.AUTO_APPROVED, Status.EXPIRED):
            assert (decision.by, decision.source) == ("hitl", "system")
        else:
            assert decision.source == "slack"
            allowed = set(route.owner.users) | {u for step in route.escalation for u in step.to}
            assert decision.by in allowed
        if item.status == Status.AUTO_APPROVED:
            assert route.auto_approve_at is not None
            assert item.confidence >= route.auto_approve_at
        elif route.auto_approve_at is not None:
            assert item.confidence < route.auto_approve_at
        # Escalation fields agree with the route's chain and with the decision time.
        if not route.escalation or item.status == Status.AUTO_APPROVED:
            assert item.first_deadline is None and item.escalation_level == 0
            continue
        step = route.escalation[0]
        assert item.first_deadline == item.created_at + step.after
        if item.escalation_level:
            assert item.escalations == [
                {
                    "level": 1,
                    "to": step.to,
                    "channel": None,
                    "at": item.first_deadline.isoformat(),
                    "step": 0,
                    "repeat": 0,
                }
            ]
            assert item.decided_at > item.first_deadline
        else:
            assert item.escalations == [] and item.decided_at < item.first_deadline
        if item.status == Status.EXPIRED:
            assert item.escalation_level == 1
            assert item.decided_at == item.first_deadline + step.after


def test_planted_patterns_are_there(db: Database) -> None:
    generate_history(db, week_start=WEEK, planted=PLANTED)
    groups = by_route_week(load(db))
    for (route, week), rows in groups.items():
        assert 60 <= len(rows) <= (230 if route == "faq" else 150), (route, week)

    for week in (BEFORE_LAST, LAST):
        # recurring_rejection: a quarter of invoices rejected, mostly for the amount.
        invoices = groups["invoices", week]
        rejected = [row for row in invoices if row.status == Status.REJECTED]
        assert 0.20 <= len(rejected) / len(invoices) <= 0.32
        amount = [row for row in rejected if row.decision and row.decision.reason == "wrong_amount"]
        assert len(amount) / len(rejected) >= 0.80
        notes = [row.decision.note or "" for row in amount if row.decision]
        assert all(
            re.fullmatch(r"Amount differs from the PDF \([\d,]+ vs [\d,]+\)", n) for n in notes
        )
        assert len(set(notes)) >= 0.9 * len(notes)  # the figures vary; the complaint does not

        # deleted_phrase: reviewers strip the same opening from many support replies.
        support = groups["support", week]
        stripped = [
            row
            for row in support
            if row.status == Status.EDITED
            and row.output.startswith(AI_PHRASE)
            and AI_PHRASE not in (row.item.final_output or "")
        ]
        assert len(stripped) / len(support) >= 0.40
        exact = [row for row in stripped if row.item.final_output == row.output[len(AI_PHRASE) :]]
        assert len(exact) >= 0.6 * len(stripped)

        # escalated_owner: contracts wait past U0ERIN and the legal lead decides.
        contracts = groups["contracts", week]
        escalated = [row for row in contracts if row.item.escalation_level == 1]
        assert len(escalated) / len(contracts) >= 0.80
        for row in escalated:
            assert row.item.escalations[0]["to"] == ["U0LEGALLEAD"]
            assert row.decision and row.item.first_deadline
            assert row.decision.at > row.item.first_deadline
            if row.status != Status.EXPIRED:
                assert row.decision.by == "U0LEGALLEAD"

    # earned_auto_approval: every week, 150+ confident faq answers, all but ~1% approved as is.
    for week in range(-3, 1):
        faq = groups["faq", week]
        confident = [row for row in faq if row.item.confidence >= 0.9]
        assert len(confident) >= 150
        unchanged = [
            row
            for row in confident
            if row.status == Status.APPROVED and row.item.final_output == row.item.output
        ]
        assert len(unchanged) / len(confident) >= 0.99
        assert all(row.decision and row.decision.by == "U0FRANK" for row in unchanged)
        unsure = [row for row in faq if row.item.confidence < 0.9]
        assert share(unsure, Status.REJECTED) >= 0.15 and share(unsure, Status.EDITED) >= 0.10

    # rising_rejections: refunds from ~5% to ~40% of about a hundred items.
    before, last = groups["refunds", BEFORE_LAST], groups["refunds", LAST]
    assert 90 <= len(before) <= 110 and 90 <= len(last) <= 110
    assert 0.03 <= share(before, Status.REJECTED) <= 0.07
    assert 0.35 <= share(last, Status.REJECTED) <= 0.45


def test_baseline_holds_no_pattern(db: Database) -> None:
    generate_history(db, week_start=WEEK, planted=())
    rows = load(db)
    groups = by_route_week(rows)
    for (route, week), group in groups.items():
        assert 60 <= len(group) <= 150, (route, week)
        human = [row for row in group if row.status in HUMAN]
        assert 0.62 <= share(human, Status.APPROVED) <= 0.80, (route, week)
        assert 0.09 <= share(human, Status.EDITED) <= 0.17, (route, week)
        assert 0.08 <= share(human, Status.REJECTED) <= 0.16, (route, week)
        if ROUTES[route].escalation:
            assert share_escalated(group) <= 0.13, (route, week)
        # No reason stands out: with 3+ reasons each gets the same share every week.
        reasons = Counter(
            row.decision.reason for row in group if row.decision and row.status == Status.REJECTED
        )
        if len(ROUTES[route].reject_reasons) >= 3:
            assert max(reasons.values()) / sum(reasons.values()) <= 0.35, (route, week, reasons)
        else:
            assert max(reasons.values()) / sum(reasons.values()) <= 0.6, (route, week, reasons)

    # No edit has anything in common with another: each removes and adds its own words.
    edits = [row.item for row in rows if row.status == Status.EDITED]
    changed = [
        change
        for item in edits
        for change in changes(text(item.output), text(item.final_output or ""))
    ]
    assert len(changed) == len(edits)  # one small change per edit
    removed, added = Counter(old for old, _ in changed), Counter(new for _, new in changed)
    assert max(removed.values()) == 1 and max(added.values()) == 1
    assert all(len(old.split()) <= 3 and len(new.split()) <= 3 for old, new in changed)
    assert not any(AI_PHRASE.strip() in item.output for item in edits)

    # Confident faq answers are often touched: no threshold earned.
    for week in range(-3, 1):
        confident = [row for row in groups["faq", week] if row.item.confidence >= 0.9]
        unchanged = share(confident, Status.APPROVED)
        assert 0.75 <= unchanged <= 0.92, week
    # Refunds' rejection rate is flat.
    rates = [share(groups["refunds", week], Status.REJECTED) for week in range(-3, 1)]
    assert all(0.07 <= rate <= 0.14 for rate in rates) and max(rates) - min(rates) <= 0.05
    # Contracts are rarely escalated, and then by the lead or the owner.
    contracts = [row for row in rows if row.item.route == "contracts"]
    assert share_escalated(contracts) <= 0.12


def share_escalated(rows: list[Row]) -> float:
    return sum(row.item.escalation_level > 0 for row in rows) / len(rows)


def test_patterns_are_planted_one_at_a_time(db: Database) -> None:
    generate_history(db, week_start=WEEK, weeks=2, planted={"rising_rejections"})
    groups = by_route_week(load(db))
    assert {week for _, week in groups} == {BEFORE_LAST, LAST}
    assert share(groups["refunds", LAST], Status.REJECTED) >= 0.35
    invoices = [row for row in groups["invoices", LAST] if row.status == Status.REJECTED]
    amount = sum(
        row.decision is not None and row.decision.reason == "wrong_amount" for row in invoices
    )
    assert amount / len(invoices) <= 0.35
    assert share_escalated(groups["contracts", LAST]) <= 0.13
    with pytest.raises(ValueError, match="unknown planted"):
        generate_history(db, week_start=WEEK, planted={"no_such_pattern"})


def test_same_seed_same_history(tmp_path: Path) -> None:
    def snapshot(name: str, seed: int) -> list[tuple[object, ...]]:
        database = Database(f"sqlite:///{tmp_path / name}")
        migrate(database)
        generate_history(database, week_start=WEEK, weeks=1, seed=seed)
        with database.read() as session:
            query = select(
                col(ReviewItem.id),
                col(ReviewItem.status),
                col(ReviewItem.output),
                col(ReviewItem.created_at),
            ).order_by(col(ReviewItem.id))
            rows = [tuple(row) for row in session.execute(query)]
        database.dispose()
        return rows

    first = snapshot("a.db", 7)
    assert first == snapshot("b.db", 7)
    assert first != snapshot("c.db", 8)


def test_bulk_decided_items_loads_exactly_count(db: Database) -> None:
    until = WEEK + timedelta(weeks=1)
    since = until - timedelta(weeks=8)
    bulk_decided_items(db, count=5000, since=since, until=until, batch=1500)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 5000
        assert session.scalar(select(func.count()).select_from(Decision)) == 5000
        query = select(col(ReviewItem.status), func.count()).group_by(col(ReviewItem.status))
        statuses: dict[str, int] = {status: n for status, n in session.execute(query).all()}
        lengths = session.scalar(select(func.avg(func.length(cast(ReviewItem.output, Text)))))
    assert Status.PENDING not in statuses
    assert {Status.APPROVED, Status.EDITED, Status.REJECTED} <= set(statuses)
    assert 0.6 <= statuses[Status.APPROVED] / 5000 <= 0.8
    assert lengths is not None and 250 <= float(lengths) <= 350
    # Read back through the ORM: on PostgreSQL the rows came by COPY, not through it.
    rows = load(db)
    assert {row.item.route for row in rows} == set(ROUTES)
    for row in rows:
        assert row.decision is not None and row.decision.at == row.item.decided_at
        assert since <= row.item.created_at <= row.item.decided_at < until
        assert row.item.route_snapshot == SNAPSHOTS[row.item.route]
        assert isinstance(row.item.escalations, list) and isinstance(row.item.context, dict)
    edited = [row.item for row in rows if row.status == Status.EDITED]
    assert all(item.final_output and item.final_output != item.output for item in edited)
    assert len({item.final_output for item in edited}) == len(edited)

"""The application layer in-process: commands over a real database (SQLite and PostgreSQL),
an injected clock, no Slack and no HTTP. Each command that changes an item publishes one
event after its commit; one that changes nothing publishes none."""

from datetime import UTC, datetime, timedelta

import pytest

import commands
from commands import ChangeKind, EventBus, ItemChanged
from rules import LoadedRules, load_rules_text
from storage import deadlines, reviews, spot_checks
from storage.db import Database
from storage.models import Status
from storage.reviews import NewItem, Outcome

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = """\
timezone: UTC
routes:
  - name: auto
    match: {workflow: auto}
    auto_approve_at: 0.9
    audit_sample: 0.5
    owner: {channel: C0AUTO, users: [U0ALICE]}
  - name: four-eyes
    match: {workflow: four-eyes}
    approvals_required: 2
    owner: {channel: C0PAIR, users: [U0ALICE, U0BOB, U0CAROL]}
    reject_reasons: [wrong_amount, duplicate]
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 30m, to: [U0MANAGER], channel: C0ESC}
    on_exhausted: reject
"""


@pytest.fixture
def loaded() -> LoadedRules:
    return load_rules_text(RULES)


@pytest.fixture
def events() -> tuple[EventBus, list[ItemChanged]]:
    bus, seen = EventBus(), list[ItemChanged]()
    bus.subscribe(seen.append)
    return bus, seen


def _new(workflow: str, confidence: float = 0.5, **overrides: object) -> NewItem:
    values: dict = {
        "agent": "invoice-bot",
        "workflow": workflow,
        "title": "Invoice 4471",
        "output": "Book to 6300.",
        "confidence": confidence,
    }
    values.update(overrides)
    return NewItem(**values)


def _submit(db: Database, loaded: LoadedRules, bus: EventBus, new: NewItem) -> str:
    result = commands.submit(db, loaded, new, now=T0, events=bus, sample=0.9)
    assert isinstance(result, reviews.Created) and result.created
    return result.item.id


def test_a_submission_is_stored_and_announced_once_with_its_first_deadline(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("chain"))
    assert seen == [
        ItemChanged(
            item_id,
            ChangeKind.SUBMITTED,
            Status.PENDING,
            "api",
            "chain",
            T0 + timedelta(minutes=30),
        )
    ]
    assert not seen[0].decided
    stored = reviews.get_item(db, item_id)
    assert stored is not None and stored.status == Status.PENDING
    assert isinstance(stored.status, Status)  # statuses are enums in the tables
    assert [row.due_at for row in deadlines.pending_for_item(db, item_id)] == [
        T0 + timedelta(minutes=30)
    ]


def test_an_auto_approval_is_announced_as_a_decision(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("auto", confidence=0.95))
    assert [(e.item_id, e.kind, e.status, e.decided) for e in seen] == [
        (item_id, ChangeKind.SUBMITTED, Status.AUTO_APPROVED, True)
    ]


def test_resubmitting_or_matching_no_route_announces_nothing(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    first = _submit(db, loaded, bus, _new("chain", external_id="inv-1"))
    again = commands.submit(db, loaded, _new("chain", external_id="inv-1"), now=T0, events=bus)
    assert isinstance(again, reviews.Created) and not again.created and again.item.id == first
    conflict = commands.submit(
        db, loaded, _new("chain", external_id="inv-1", title="Other"), now=T0, events=bus
    )
    assert isinstance(conflict, commands.ExternalIdConflict) and conflict.fields == ["title"]
    no_route = commands.submit(db, loaded, _new("unknown"), now=T0, events=bus)
    assert no_route == commands.NoRoute(workflow="unknown", agent="invoice-bot")
    assert [e.kind for e in seen] == [ChangeKind.SUBMITTED]


def test_four_eyes_counts_two_people_and_decides_once(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("four-eyes"))
    seen.clear()
    later = T0 + timedelta(minutes=5)

    first = commands.approve(db, item_id, by="U0ALICE", source="slack", now=later, events=bus)
    assert first.outcome == Outcome.APPROVAL_RECORDED and first.approvers == ("U0ALICE",)
    twice = commands.approve(db, item_id, by="U0ALICE", source="slack", now=later, events=bus)
    assert twice.outcome == Outcome.ALREADY_APPROVED
    stranger = commands.approve(db, item_id, by="U0EVE", source="slack", now=later, events=bus)
    assert stranger.outcome == Outcome.FORBIDDEN
    second = commands.approve(db, item_id, by="U0BOB", source="slack", now=later, events=bus)
    assert second.outcome == Outcome.DECIDED and second.decision is not None
    assert second.approvers == ("U0ALICE", "U0BOB") and second.decision.note is None
    late = commands.approve(db, item_id, by="U0CAROL", source="slack", now=later, events=bus)
    assert late.outcome == Outcome.ALREADY_DECIDED

    assert [(e.kind, e.status, e.decided) for e in seen] == [
        (ChangeKind.APPROVAL_RECORDED, Status.PENDING, False),
        (ChangeKind.DECIDED, Status.APPROVED, True),
    ]
    item = reviews.get_item(db, item_id)
    assert item is not None and item.status == Status.APPROVED and item.decided_at == later


def test_an_edit_restarts_the_count_for_the_new_text(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, _ = events
    item_id = _submit(db, loaded, bus, _new("four-eyes"))
    commands.approve(db, item_id, by="U0ALICE", source="slack", now=T0, events=bus)
    edit = commands.approve(
        db, item_id, by="U0BOB", source="slack", now=T0, events=bus, edited_output="Book to 6400."
    )
    assert edit.outcome == Outcome.APPROVAL_RECORDED and edit.approvers == ("U0BOB",)
    final = commands.approve(db, item_id, by="U0ALICE", source="slack", now=T0, events=bus)
    assert final.outcome == Outcome.DECIDED
    item = reviews.get_item(db, item_id)
    assert item is not None and item.status == Status.EDITED
    assert item.final_output == "Book to 6400."


def test_a_rejection_needs_one_of_the_routes_reasons(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("four-eyes"))
    seen.clear()
    refused = commands.reject(
        db, item_id, by="U0ALICE", source="slack", reason="bored", note=None, now=T0, events=bus
    )
    assert refused.outcome == Outcome.INVALID_REASON
    assert reviews.get_item(db, item_id).status == Status.PENDING  # type: ignore[union-attr]
    assert seen == []
    rejected = commands.reject(
        db,
        item_id,
        by="U0ALICE",
        source="slack",
        reason="duplicate",
        note="seen",
        now=T0,
        events=bus,
    )
    assert rejected.outcome == Outcome.DECIDED and rejected.decision is not None
    assert (rejected.decision.reason, rejected.decision.note) == ("duplicate", "seen")
    assert [(e.kind, e.status, e.source) for e in seen] == [
        (ChangeKind.DECIDED, Status.REJECTED, "slack")
    ]
    missing = commands.reject(
        db,
        "rv_missing",
        by="U0ALICE",
        source="slack",
        reason="duplicate",
        note=None,
        now=T0,
        events=bus,
    )
    assert missing.outcome == Outcome.NOT_FOUND


def test_cancel_is_the_agents_own_and_happens_once(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("chain"))
    seen.clear()
    other = commands.cancel(db, item_id, agent="other-bot", reason=None, now=T0, events=bus)
    assert other.outcome == Outcome.NOT_FOUND
    done = commands.cancel(db, item_id, agent="invoice-bot", reason="dup", now=T0, events=bus)
    assert done.outcome == Outcome.DECIDED
    again = commands.cancel(db, item_id, agent="invoice-bot", reason="dup", now=T0, events=bus)
    assert again.outcome == Outcome.ALREADY_DECIDED
    assert [(e.kind, e.status, e.source, e.deadline) for e in seen] == [
        (ChangeKind.DECIDED, Status.CANCELLED, "api", None)
    ]
    assert deadlines.pending_for_item(db, item_id) == []  # a cancelled item escalates no more


def test_a_chain_escalates_then_runs_out_each_announced_once(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    item_id = _submit(db, loaded, bus, _new("chain"))
    seen.clear()

    def fire_due(at: datetime) -> list[str]:
        rows = deadlines.claim_due(db, now=at, lease=timedelta(minutes=1), limit=10)
        results = commands.fire_steps(db, [row.id for row in rows if row.id], now=at, events=bus)
        return [result.outcome for result in results]

    assert fire_due(T0 + timedelta(minutes=29)) == []
    assert fire_due(T0 + timedelta(minutes=31)) == ["escalated"]
    assert fire_due(T0 + timedelta(minutes=61)) == ["exhausted"]
    assert fire_due(T0 + timedelta(hours=5)) == []
    assert [(e.kind, e.status, e.source, e.deadline, e.decided) for e in seen] == [
        (ChangeKind.ESCALATED, Status.PENDING, "system", T0 + timedelta(minutes=60), False),
        (ChangeKind.EXHAUSTED, Status.REJECTED, "system", None, True),  # on_exhausted: reject
    ]
    decision = reviews.get_decision(db, item_id)
    assert decision is not None and decision.reason == "no_decision"


def test_spot_checks_only_auto_approved_items_by_their_owners(
    db: Database, loaded: LoadedRules, events: tuple[EventBus, list[ItemChanged]]
) -> None:
    bus, seen = events
    auto_id = _submit(db, loaded, bus, _new("auto", confidence=0.95))
    pending_id = _submit(db, loaded, bus, _new("chain"))
    seen.clear()

    def check(item_id: str, by: str) -> commands.SpotCheckOutcome:
        return commands.spot_check(
            db, item_id, by=by, verdict="wrong", source="slack", now=T0, events=bus
        ).outcome

    assert check(auto_id, "U0EVE") == commands.SpotCheckOutcome.FORBIDDEN
    assert check(pending_id, "U0ALICE") == commands.SpotCheckOutcome.NOT_AUTO_APPROVED
    assert check("rv_missing", "U0ALICE") == commands.SpotCheckOutcome.NOT_FOUND
    assert check(auto_id, "U0ALICE") == commands.SpotCheckOutcome.RECORDED
    assert [v.verdict for v in spot_checks.spot_checks_of(db, auto_id)] == ["wrong"]
    assert [(e.item_id, e.kind, e.decided) for e in seen] == [
        (auto_id, ChangeKind.SPOT_CHECKED, False)
    ]


def test_a_failing_subscriber_neither_fails_the_command_nor_silences_the_others(
    db: Database, loaded: LoadedRules
) -> None:
    bus, seen = EventBus(), list[ItemChanged]()

    def broken(event: ItemChanged) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    item_id = _submit(db, loaded, bus, _new("chain"))
    assert [e.item_id for e in seen] == [item_id]
    assert reviews.get_item(db, item_id) is not None

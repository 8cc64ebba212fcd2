"""Storage on SQLite and PostgreSQL: one decision per item, outbox claims never shared."""

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from storage import audit, outbox, reviews
from storage.db import Database, normalize_url
from storage.migrate import migrate
from storage.models import Decision, OutboxKind, OutboxMessage, OutboxStatus, ReviewItem, Status

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _routing(**overrides: object) -> reviews.Routing:
    values: dict = {
        "route": "invoices",
        "route_snapshot": {"name": "invoices"},
        "rules_version": "v1",
        "channel": "C0APREVIEW",
        "auto_approved": False,
    }
    values.update(overrides)
    return reviews.Routing(**values)


def _new(**overrides: object) -> reviews.NewItem:
    values: dict = {
        "agent": "invoice-bot",
        "workflow": "ap-invoices",
        "title": "Invoice 4471",
        "output": "Booked to 6300",
        "confidence": 0.62,
        "callback_url": "https://agent.example/cb",
    }
    values.update(overrides)
    return reviews.NewItem(**values)


def _row_id(row: OutboxMessage) -> int:
    assert row.id is not None, "a stored outbox row has an id"
    return row.id


def test_postgres_urls_use_the_shipped_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_migrating_twice_is_harmless(db: Database) -> None:
    migrate(db)
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(ReviewItem)).one() == 0


def test_create_queues_the_post_and_records_the_audit(db: Database) -> None:
    created = reviews.create_item(db, _new(), _routing(), now=NOW)
    assert created.created and created.item.status == Status.PENDING
    assert created.item.created_at == NOW  # aware UTC round-trips on both backends
    rows = outbox.rows_for_item(db, created.item.id)
    assert [row.kind for row in rows] == [OutboxKind.POST_ITEM]
    with db.read() as session:
        events = audit.trail(session, created.item.id)
    assert [event.action for event in events] == ["created"]
    assert events[0].actor == "invoice-bot" and events[0].source == "api"


def test_same_external_id_returns_the_first_item(db: Database) -> None:
    first = reviews.create_item(db, _new(external_id="inv-1"), _routing(), now=NOW)
    second = reviews.create_item(db, _new(external_id="inv-1"), _routing(), now=NOW)
    assert not second.created and second.item.id == first.item.id
    other_agent = reviews.create_item(
        db, _new(external_id="inv-1", agent="other-bot"), _routing(), now=NOW
    )
    assert other_agent.created
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(ReviewItem)).one() == 2
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2


def test_auto_approved_item_is_decided_and_called_back_without_a_post(db: Database) -> None:
    created = reviews.create_item(
        db, _new(), _routing(auto_approved=True, post_to_slack=False), now=NOW
    )
    assert created.item.status == Status.AUTO_APPROVED
    assert created.item.final_output == created.item.output
    kinds = [row.kind for row in outbox.rows_for_item(db, created.item.id)]
    assert kinds == [OutboxKind.CALLBACK]


def test_concurrent_decisions_yield_exactly_one(db: Database) -> None:
    item = reviews.create_item(db, _new(), _routing(), now=NOW).item
    barrier = threading.Barrier(8)
    results: list[reviews.DecideResult] = []
    lock = threading.Lock()

    def decide(user: str, status: Status) -> None:
        barrier.wait()
        result = reviews.decide(db, item.id, status=status, by=user, source="slack", now=NOW)
        with lock:
            results.append(result)

    threads = [
        threading.Thread(
            target=decide, args=(f"U{i}", Status.APPROVED if i % 2 else Status.REJECTED)
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.outcome == reviews.Outcome.DECIDED]
    losers = [r for r in results if r.outcome == reviews.Outcome.ALREADY_DECIDED]
    assert len(winners) == 1 and len(losers) == 7
    winning = winners[0].decision
    assert winning is not None
    assert all(loser.decision and loser.decision.by == winning.by for loser in losers)
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Decision)).one() == 1
        callbacks = session.exec(
            select(func.count()).where(OutboxMessage.kind == OutboxKind.CALLBACK)
        ).one()
    assert callbacks == 1


def test_forbidden_and_foreign_agent_change_nothing(db: Database) -> None:
    item = reviews.create_item(db, _new(), _routing(), now=NOW).item
    refused = reviews.decide(
        db,
        item.id,
        status=Status.APPROVED,
        by="U0EVE",
        source="slack",
        now=NOW,
        may_decide=lambda _item: False,
    )
    assert refused.outcome == reviews.Outcome.FORBIDDEN
    foreign = reviews.decide(
        db, item.id, status=Status.CANCELLED, by="x", source="api", now=NOW, agent="other-bot"
    )
    assert foreign.outcome == reviews.Outcome.NOT_FOUND
    unchanged = reviews.get_item(db, item.id)
    assert unchanged is not None and unchanged.status == Status.PENDING
    assert reviews.get_decision(db, item.id) is None


def test_concurrent_claims_never_share_a_row(db: Database) -> None:
    for index in range(60):
        reviews.create_item(db, _new(external_id=f"x{index}"), _routing(), now=NOW)
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        while rows := outbox.claim_due(db, now=NOW, lease=timedelta(minutes=1), limit=5):
            with lock:
                claimed.extend(_row_id(row) for row in rows)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 60 and len(set(claimed)) == 60


def test_an_items_update_waits_for_its_post_and_expired_leases_are_reclaimed(
    db: Database,
) -> None:
    item = reviews.create_item(db, _new(callback_url=None), _routing(), now=NOW).item
    reviews.decide(db, item.id, status=Status.APPROVED, by="U0ALICE", source="slack", now=NOW)
    first = outbox.claim_due(db, now=NOW, lease=timedelta(seconds=30), limit=10)
    assert [row.kind for row in first] == [OutboxKind.POST_ITEM]  # the update must wait
    assert outbox.claim_due(db, now=NOW, lease=timedelta(seconds=30), limit=10) == []
    later = NOW + timedelta(seconds=31)  # the claimer died: its lease ran out
    again = outbox.claim_due(db, now=later, lease=timedelta(seconds=30), limit=10)
    assert [row.id for row in again] == [first[0].id] and again[0].attempts == 2
    outbox.complete(db, _row_id(first[0]), now=later)
    update = outbox.claim_due(db, now=later, lease=timedelta(seconds=30), limit=10)
    assert [row.kind for row in update] == [OutboxKind.UPDATE_ITEM]
    assert {row.status for row in outbox.rows_for_item(db, item.id)} == {
        OutboxStatus.DONE,
        OutboxStatus.PENDING,
    }

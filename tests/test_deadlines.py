"""Deadline rows on SQLite and PostgreSQL, with an injected clock: a step fires once."""

import threading
from datetime import datetime, timedelta

import pytest

from commands.escalation import plan_firing
from storage import deadlines, escalations, outbox, reviews
from storage.db import Database
from storage.escalations import FireOutcome
from storage.models import EscalationStepRow, OutboxKind, ReviewItem, Status, StepStatus
from tests.chains import T0, create_chain_item


def _step_id(row: EscalationStepRow) -> int:
    assert row.id is not None, "a stored step row has an id"
    return row.id


def _item(db: Database, item_id: str) -> ReviewItem:
    item = reviews.get_item(db, item_id)
    assert item is not None, f"item {item_id} not found"
    return item


def _claim_and_fire(db: Database, at: datetime) -> list[FireOutcome]:
    rows = deadlines.claim_due(db, now=at, lease=timedelta(minutes=1), limit=100)
    return [escalations.fire(db, _step_id(row), now=at, plan=plan_firing).outcome for row in rows]


def test_nothing_fires_before_its_due_time(db: Database) -> None:
    item_id = create_chain_item(db)
    assert _item(db, item_id).deadline == T0 + timedelta(minutes=30)
    assert _claim_and_fire(db, T0 + timedelta(minutes=29, seconds=59)) == []


def test_firing_moves_the_item_and_queues_the_next_step_in_one_go(db: Database) -> None:
    item_id = create_chain_item(db)
    assert _claim_and_fire(db, T0 + timedelta(minutes=30, seconds=1)) == [FireOutcome.ESCALATED]
    item = _item(db, item_id)
    assert item.escalation_level == 1
    assert item.escalations[0]["to"] == ["U0MANAGER"] and item.escalations[0]["channel"] == "C0ESC"
    # The next step waits from the previous due time, not from when the sweep ran.
    assert item.deadline == T0 + timedelta(minutes=150)
    kinds = [row.kind for row in outbox.rows_for_item(db, item_id)]
    assert kinds.count(OutboxKind.POST_ESCALATION) == 1
    assert _claim_and_fire(db, T0 + timedelta(minutes=150)) == [FireOutcome.ESCALATED]
    kinds = [row.kind for row in outbox.rows_for_item(db, item_id)]
    assert kinds.count(OutboxKind.POST_ESCALATION) == 3  # one DM each for director and VP
    assert _item(db, item_id).status == Status.PENDING
    # Then the director's own wait runs out: the route expires the item (the default).
    assert _claim_and_fire(db, T0 + timedelta(minutes=270)) == [FireOutcome.EXHAUSTED]
    assert _item(db, item_id).status == Status.EXPIRED
    assert deadlines.pending_for_item(db, item_id) == []


def test_deciding_cancels_the_pending_step(db: Database) -> None:
    item_id = create_chain_item(db)
    reviews.decide(db, item_id, status=Status.APPROVED, by="U0ALICE", source="slack", now=T0)
    assert deadlines.pending_for_item(db, item_id) == []
    assert _claim_and_fire(db, T0 + timedelta(hours=5)) == []


def test_a_claimed_step_whose_claimer_died_is_claimed_again_and_fires_once(db: Database) -> None:
    create_chain_item(db)
    due = T0 + timedelta(minutes=31)
    abandoned = deadlines.claim_due(db, now=due, lease=timedelta(minutes=1), limit=10)
    assert len(abandoned) == 1
    assert deadlines.claim_due(db, now=due, lease=timedelta(minutes=1), limit=10) == []
    later = due + timedelta(minutes=2)  # the lease ran out
    assert _claim_and_fire(db, later) == [FireOutcome.ESCALATED]
    stale = escalations.fire(db, _step_id(abandoned[0]), now=later, plan=plan_firing)
    assert stale.outcome == FireOutcome.STALE  # the first claimer wakes up too late


def test_racing_sweepers_fire_each_step_exactly_once(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(40)]
    due = T0 + timedelta(minutes=31)
    outcomes: list[FireOutcome] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def sweeper() -> None:
        barrier.wait()
        while rows := deadlines.claim_due(db, now=due, lease=timedelta(minutes=1), limit=5):
            for row in rows:
                result = escalations.fire(db, _step_id(row), now=due, plan=plan_firing)
                with lock:
                    outcomes.append(result.outcome)

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(FireOutcome.ESCALATED) == 40
    for item_id in ids:
        kinds = [row.kind for row in outbox.rows_for_item(db, item_id)]
        assert kinds.count(OutboxKind.POST_ESCALATION) == 1
        assert _item(db, item_id).escalation_level == 1


def test_step_rows_keep_one_row_per_item_step_and_repeat(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    item_id = create_chain_item(db)
    plan = deadlines.StepPlan(0, 0, 0, False, T0)
    with pytest.raises(IntegrityError), db.write() as session:
        deadlines.schedule(session, item_id, plan)
    assert [row.status for row in deadlines.pending_for_item(db, item_id)] == [StepStatus.PENDING]

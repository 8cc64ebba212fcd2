"""Firing due steps in batches (one transaction per batch) on SQLite and PostgreSQL, with an
injected clock: each step fires once, a decided item never escalates, every escalation post
points at its own message, and one broken item holds back no other."""

import random
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.escalation_clock import EscalationClock
from bot.scheduler import create_scheduler
from commands import EventBus
from commands.escalation import plan_firing
from storage import audit, deadlines, escalations, outbox, reviews
from storage.db import Database
from storage.escalations import FireOutcome
from storage.models import EscalationStepRow, ItemMessage, OutboxKind, ReviewItem, Status
from tests.chains import T0, create_chain_item

FIRST_DUE = T0 + timedelta(minutes=30)
SECOND_DUE = T0 + timedelta(minutes=150)


def _pending_step_ids(db: Database, item_ids: list[str]) -> list[int]:
    rows = [row for item_id in item_ids for row in deadlines.pending_for_item(db, item_id)]
    return [row.id for row in rows if row.id is not None]


def _item(db: Database, item_id: str) -> ReviewItem:
    item = reviews.get_item(db, item_id)
    assert item is not None
    return item


def _posts(db: Database, item_id: str) -> list[int]:
    """The message ids the item's escalation posts carry, oldest first."""
    rows = outbox.rows_for_item(db, item_id)
    return [row.payload["message_id"] for row in rows if row.kind == OutboxKind.POST_ESCALATION]


def test_a_batch_fires_due_steps_and_leaves_decided_and_fired_ones_alone(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(6)]
    steps = _pending_step_ids(db, ids)
    reviews.decide(db, ids[1], status=Status.APPROVED, by="U0ALICE", source="slack", now=T0)
    alone = escalations.fire(db, steps[2], now=FIRST_DUE, plan=plan_firing)
    assert alone.outcome == FireOutcome.ESCALATED

    results = escalations.fire_many(db, steps, now=FIRST_DUE, plan=plan_firing)

    assert [result.outcome for result in results] == [
        FireOutcome.ESCALATED,
        FireOutcome.STALE,  # decided first: its step was cancelled
        FireOutcome.STALE,  # fired already
        FireOutcome.ESCALATED,
        FireOutcome.ESCALATED,
        FireOutcome.ESCALATED,
    ]
    assert [result.item_id for result in results] == ids
    for item_id in ids:
        item = _item(db, item_id)
        if item_id == ids[1]:
            assert item.status == Status.APPROVED and item.escalation_level == 0
            assert _posts(db, item_id) == [] and deadlines.pending_for_item(db, item_id) == []
            continue
        assert item.escalation_level == 1 and item.deadline == SECOND_DUE
        assert len(_posts(db, item_id)) == 1
        [next_step] = deadlines.pending_for_item(db, item_id)
        assert (next_step.step, next_step.due_at) == (1, SECOND_DUE)
        with db.read() as session:
            actions = [event.action for event in audit.trail(session, item_id)]
        assert actions.count("escalated") == 1


def test_each_escalation_post_names_its_own_message_after_the_update(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(5)]
    escalations.fire_many(db, _pending_step_ids(db, ids), now=FIRST_DUE, plan=plan_firing)
    results = escalations.fire_many(
        db, _pending_step_ids(db, ids), now=SECOND_DUE, plan=plan_firing
    )
    assert [result.level for result in results] == [2] * 5
    for item_id in ids:
        messages = {m.id: m for m in escalations.messages_of(db, item_id) if m.id is not None}
        posts = _posts(db, item_id)
        # Level 1 to the channel, level 2 by DM to each of two people: one post per message.
        assert sorted(posts) == sorted(messages)
        assert sorted((messages[m].level, messages[m].target) for m in posts) == [
            (1, "C0ESC"),
            (2, "U0DIRECTOR"),
            (2, "U0VP"),
        ]
        # The original (still waiting for its post) is re-rendered before the new posts go.
        kinds = [row.kind for row in outbox.rows_for_item(db, item_id)]
        assert kinds == [
            OutboxKind.POST_ITEM,
            OutboxKind.UPDATE_ITEM,
            OutboxKind.POST_ESCALATION,
            OutboxKind.UPDATE_ITEM,
            OutboxKind.POST_ESCALATION,
            OutboxKind.POST_ESCALATION,
        ]


def test_exhausting_and_escalating_items_fire_in_one_batch(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(4)]
    escalations.fire_many(db, _pending_step_ids(db, ids[:2]), now=FIRST_DUE, plan=plan_firing)
    escalations.fire_many(db, _pending_step_ids(db, ids[:2]), now=SECOND_DUE, plan=plan_firing)
    # Items 0 and 1 now wait on "the chain ran out"; 2 and 3 on their first step.
    late = SECOND_DUE + timedelta(hours=3)
    results = escalations.fire_many(db, _pending_step_ids(db, ids), now=late, plan=plan_firing)
    assert [result.outcome for result in results] == [
        FireOutcome.EXHAUSTED,
        FireOutcome.EXHAUSTED,
        FireOutcome.ESCALATED,
        FireOutcome.ESCALATED,
    ]
    assert [_item(db, item_id).status for item_id in ids] == [
        Status.EXPIRED,
        Status.EXPIRED,
        Status.PENDING,
        Status.PENDING,
    ]
    assert deadlines.pending_for_item(db, ids[0]) == []
    assert len(deadlines.pending_for_item(db, ids[2])) == 1


def test_one_broken_item_holds_back_no_other_in_its_batch(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(30)]
    broken = ids[7]
    with db.write() as session:  # a stored route no longer readable: planning its step fails
        session.execute(
            update(ReviewItem).where(col(ReviewItem.id) == broken).values(route_snapshot={})
        )
    clock = EscalationClock(
        db=db, now=lambda: FIRST_DUE, events=EventBus(), scheduler=create_scheduler()
    )
    try:
        assert clock.sweep() == 29
    finally:
        clock.stop()
    for item_id in ids:
        level = _item(db, item_id).escalation_level
        assert level == (0 if item_id == broken else 1)
        assert len(_posts(db, item_id)) == level
    assert [row.step for row in deadlines.pending_for_item(db, broken)] == [0]


def test_decisions_racing_batches_never_escalate_a_decided_item(db: Database) -> None:
    ids = [create_chain_item(db, n) for n in range(60)]
    steps = _pending_step_ids(db, ids)
    to_decide = random.Random(9).sample(ids, 30)
    fired: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def firer(batch: list[int]) -> None:
        barrier.wait()
        try:
            for start in range(0, len(batch), 10):
                chunk = batch[start : start + 10]
                for result in escalations.fire_many(db, chunk, now=FIRST_DUE, plan=plan_firing):
                    if result.outcome == FireOutcome.ESCALATED:
                        with lock:
                            fired.append(result.item_id)
        except BaseException as error:
            errors.append(error)

    def decider() -> None:
        barrier.wait()
        for item_id in to_decide:
            reviews.decide(
                db, item_id, status=Status.REJECTED, by="U0ALICE", source="slack", now=FIRST_DUE
            )

    # Two firers take the steps in opposite orders, so their batches overlap and contend.
    threads = [
        threading.Thread(target=firer, args=(steps,)),
        threading.Thread(target=firer, args=(steps[::-1],)),
        threading.Thread(target=decider),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(fired) == len(set(fired))  # no step fired twice
    with db.read() as session:
        levels = dict(session.exec(select(ReviewItem.id, ReviewItem.escalation_level)).all())
        decided_at = dict(session.exec(select(ReviewItem.id, ReviewItem.decided_at)).all())
        escalated_at = dict(
            session.exec(select(ItemMessage.item_id, ItemMessage.at)).all()  # one per item
        )
        still_pending = session.exec(
            select(EscalationStepRow.item_id).where(EscalationStepRow.status == "pending")
        ).all()
    for item_id in ids:
        assert levels[item_id] == (1 if item_id in fired else 0)
        assert len(_posts(db, item_id)) == levels[item_id]
    # A decided item keeps no pending step; one escalated before its decision is fine.
    assert set(still_pending).isdisjoint(to_decide)
    assert all(decided_at[item_id] is not None for item_id in to_decide)
    assert set(escalated_at) == set(fired)


def test_wake_ups_are_timed_by_the_real_clock_whatever_the_injected_one_says(
    db: Database,
) -> None:
    """A clock weeks in the past (as in tests) still wakes 10 minutes of its time from now;
    timed on the injected clock, APScheduler would walk every missed interval since then
    while holding the lock every submission's wake-up needs."""
    past = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    scheduler = create_scheduler()
    clock = EscalationClock(db=db, now=lambda: past, sweep_seconds=0.2, scheduler=scheduler)
    scheduler.start(paused=True)  # jobs get their run times; none runs
    try:
        before = datetime.now(UTC)
        clock.start()
        clock.wake_at(past + timedelta(minutes=10))
        after = datetime.now(UTC)
        sweep = scheduler.get_job("escalation-sweep").next_run_time
        wake = scheduler.get_job("escalation-wake").next_run_time
        assert before <= sweep <= after
        assert before + timedelta(minutes=10) <= wake <= after + timedelta(minutes=10)
    finally:
        scheduler.shutdown(wait=False)

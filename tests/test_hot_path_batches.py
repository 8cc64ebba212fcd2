"""A backlog drains in batches: Slack rows are prefetched, so one claim serves several posts,
and rows still waiting in a pool at shutdown are handed back, never posted after that. The
claim statement is built once per shape, its values bound at each claim."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import event
from sqlmodel import select

from bot.delivery import RetryPolicy
from bot.heartbeat import Heartbeat
from bot.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.signals import ChangeSignals
from bot.slot_pool import SlotPool
from rules import load_rules_text
from storage import outbox, reviews
from storage.db import Database
from storage.models import OutboxKind, OutboxMessage, OutboxStatus, ReviewItem
from tests.chains import CHAIN_RULES, T0, create_chain_item
from tests.slack_standin import SlackStandIn

LATER = T0 + timedelta(seconds=1)


@pytest.fixture
def claims(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "row_number()" in statement.lower() and "outbox" in statement.lower():
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def test_a_backlog_of_posts_is_drained_with_a_claim_per_several_posts(
    db: Database, standin: SlackStandIn, claims: list[str]
) -> None:
    posts = 24
    items = [create_chain_item(db, n) for n in range(posts)]
    metrics = Metrics(db)
    worker = OutboxWorker(
        db=db,
        slack=WebClient(token=standin.bot_token, base_url=standin.url),
        signals=ChangeSignals(),
        metrics=metrics,
        now=lambda: LATER,
        policy=RetryPolicy(),
        webhook_secret=None,
        current_rules=lambda: load_rules_text(CHAIN_RULES),
        heartbeat=Heartbeat(db=db, now=lambda: LATER, health=metrics.health),
        slack_concurrency=2,
    )
    worker.start()
    try:
        standin.wait_for(lambda s: len(s.calls_to("chat.postMessage")) >= posts, 60)
        for item_id in items:  # each recorded as posted, once
            assert reviews.get_item(db, item_id).message_ts is not None  # type: ignore[union-attr]
    finally:
        worker.stop()
    assert len(standin.calls_to("chat.postMessage")) == posts
    # One claim per freed slot would be one per post; prefetching takes several at a time
    # (the poll may add one now and then on a slow machine).
    assert len(claims) <= posts // 2, len(claims)


def _row(row_id: int) -> OutboxMessage:
    return OutboxMessage(
        id=row_id,
        delivery_id=f"msg_{row_id}",
        kind=OutboxKind.POST_ITEM,
        payload={},
        created_at=T0,
        due_at=T0,
    )


def test_rows_waiting_in_a_pool_at_shutdown_are_handed_back_and_never_started() -> None:
    started: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def deliver(row: OutboxMessage) -> None:
        started.append(row.id or 0)
        first_started.set()
        release.wait(30)

    pool = SlotPool("test", 1, deliver, freed=lambda: None, prefetch=3)
    pool.start()
    assert pool.take_free() == 4  # one thread and three rows waiting
    for row_id in (1, 2, 3, 4):
        pool.submit(_row(row_id))
    assert first_started.wait(30)
    assert sorted(pool.drop_waiting()) == [2, 3, 4]  # handed back by the caller
    assert pool.in_flight() == [1]
    release.set()
    pool.stop()
    for thread in pool._threads:
        thread.join(30)
    assert started == [1]


def test_a_freed_slot_wakes_the_claim_loop_once_half_the_slots_are_free() -> None:
    wakes: list[int] = []
    gates = {row_id: threading.Event() for row_id in (1, 2, 3, 4)}
    done = threading.Semaphore(0)

    def deliver(row: OutboxMessage) -> None:
        gates[row.id or 0].wait(30)

    def freed() -> None:
        wakes.append(1)
        done.release()

    pool = SlotPool("test", 1, deliver, freed=freed, prefetch=3)
    pool.backlog = True
    pool.start()
    assert pool.take_free() == 4
    for row_id in gates:
        pool.submit(_row(row_id))
    gates[1].set()
    gates[2].set()
    assert done.acquire(timeout=30)  # the second freed slot (of four) wakes the loop
    assert len(wakes) == 1 and pool.take_free() == 2
    pool.give_back(2)
    for gate in gates.values():
        gate.set()
    pool.stop()


def test_the_same_claim_statement_binds_new_paused_channels_each_time(db: Database) -> None:
    first = create_chain_item(db, 1)
    second = create_chain_item(db, 2)
    with db.write() as session:  # the two items in two channels
        session.get_one(ReviewItem, first).channel = "C0FIRST"
        session.get_one(ReviewItem, second).channel = "C0SECOND"

    def claim(paused_channel: str) -> list[str | None]:
        paused = outbox.Paused(post_channels=frozenset({paused_channel}))
        rows = outbox.claim_due(
            db, now=LATER, lease=timedelta(minutes=1), limit=5, paused=paused, worker_id="wk"
        )
        return [row.item_id for row in rows]

    assert claim("C0FIRST") == [second]  # the first channel is paused
    assert claim("C0SECOND") == [first]  # same statement, the other channel paused
    with db.read() as session:
        query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
        pending = list(session.exec(query))
        assert {row.worker_id for row in pending} == {"wk"}
        assert {row.attempts for row in pending} == {1}

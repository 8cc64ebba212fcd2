"""The delivery hot path stays cheap: one claim per wake-up serves both slot pools, each
pool gets no more rows than it has free slots, and a post is rendered from one read."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import event

from bot.delivery import RetryPolicy
from bot.heartbeat import Heartbeat
from bot.metrics import Metrics
from bot.outbox_worker import SLACK_SIDE, OutboxWorker
from bot.signals import ChangeSignals
from rules import load_rules_text
from storage import outbox
from storage.db import Database
from storage.models import OutboxKind
from storage.rendering import rendering_of
from tests.chains import CHAIN_RULES, T0, create_chain_item

LATER = T0 + timedelta(seconds=1)


@pytest.fixture
def claims(db: Database) -> Iterator[list[str]]:
    """The claim statements run on the real engine (each claim ranks rows by channel)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "row_number()" in statement.lower() and "outbox" in statement.lower():
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def _worker(db: Database) -> OutboxWorker:
    metrics = Metrics(db)
    return OutboxWorker(
        db=db,
        slack=WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/"),
        signals=ChangeSignals(),
        metrics=metrics,
        now=lambda: LATER,
        policy=RetryPolicy(),
        webhook_secret=None,
        current_rules=lambda: load_rules_text(CHAIN_RULES),
        heartbeat=Heartbeat(db=db, now=lambda: LATER, health=metrics.health),
        slack_concurrency=2,
    )


def test_one_claim_serves_both_pools_and_a_partial_claim_wakes_nobody(
    db: Database, claims: list[str]
) -> None:
    create_chain_item(db)  # queues the item's post
    worker = _worker(db)  # pools not started: claimed rows wait in their queues
    assert worker.run_once() == 1
    assert len(claims) == 1  # one claim for the Slack pool and the callback pool
    # Fewer rows than free slots came back: nothing more is due, a freed slot wakes nobody.
    assert not worker.slack_pool.backlog and not worker.callback_pool.backlog
    assert worker.slack_pool.in_flight() and not worker.callback_pool.in_flight()


def test_a_pool_is_never_given_more_rows_than_its_free_slots(db: Database) -> None:
    for n in range(12):
        create_chain_item(db, n)
    rows = outbox.claim_due(
        db,
        now=LATER,
        lease=timedelta(minutes=1),
        limit=0,
        groups=[(SLACK_SIDE, 2), ((OutboxKind.CALLBACK,), 8)],
        worker_id="wk_test",
    )
    assert len(rows) == 2
    worker = _worker(db)
    # The Slack pool's slots (two threads and the rows prefetched for them), filled.
    assert worker.run_once() == worker.slack_pool.capacity < 10
    assert worker.slack_pool.backlog  # a backlog may remain: a freed slot looks again


def test_an_item_renders_from_one_read(db: Database) -> None:
    item_id = create_chain_item(db)
    rendering = rendering_of(db, item_id)
    assert rendering is not None
    assert rendering.item.id == item_id
    assert rendering.decision is None and rendering.approvers == []
    assert rendering.spot_checks == []
    assert rendering_of(db, "missing") is None

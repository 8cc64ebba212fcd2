"""Leases held by a process that stopped heartbeating are free at once; leases of a live
process are not; Slack's pauses are kept per method and channel; loop health is told."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.delivery import RateLimits
from bot.metrics import LoopHealth
from storage import deadlines, outbox, workers
from storage.db import Database
from storage.models import OutboxKind, ReviewItem
from tests.chains import create_chain_item

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LONG = timedelta(hours=1)
DEAD_AFTER = timedelta(seconds=10)


def test_a_dead_workers_outbox_rows_are_taken_over_before_the_lease_ends(db: Database) -> None:
    create_chain_item(db)  # queues the item's post
    workers.heartbeat(db, "wk_a", now=T0)
    [row] = outbox.claim_due(
        db, now=T0, lease=LONG, limit=10, worker_id="wk_a", dead_before=T0 - DEAD_AFTER
    )
    later = T0 + timedelta(seconds=5)
    workers.heartbeat(db, "wk_b", now=later)
    # wk_a beat 5 s ago: alive, its lease holds.
    assert (
        outbox.claim_due(
            db, now=later, lease=LONG, limit=10, worker_id="wk_b", dead_before=later - DEAD_AFTER
        )
        == []
    )
    much_later = T0 + timedelta(seconds=30)
    workers.heartbeat(db, "wk_b", now=much_later)
    [taken] = outbox.claim_due(
        db,
        now=much_later,
        lease=LONG,
        limit=10,
        worker_id="wk_b",
        dead_before=much_later - DEAD_AFTER,
    )
    assert taken.id == row.id and taken.attempts == 2 and taken.worker_id == "wk_b"


def test_a_dead_workers_deadlines_are_taken_over_and_own_leases_are_kept(db: Database) -> None:
    create_chain_item(db)
    due = T0 + timedelta(minutes=31)
    workers.heartbeat(db, "wk_a", now=due)
    [step] = deadlines.claim_due(
        db, now=due, lease=LONG, limit=10, worker_id="wk_a", dead_before=due - DEAD_AFTER
    )
    later = due + timedelta(seconds=30)  # wk_a has not beaten since
    # Its own lease never looks dead to wk_a itself (its heartbeat may just lag).
    assert (
        deadlines.claim_due(
            db, now=later, lease=LONG, limit=10, worker_id="wk_a", dead_before=later - DEAD_AFTER
        )
        == []
    )
    [taken] = deadlines.claim_due(
        db, now=later, lease=LONG, limit=10, worker_id="wk_b", dead_before=later - DEAD_AFTER
    )
    assert taken.id == step.id


def test_leases_lost_with_a_failed_claims_answer_are_freed(db: Database) -> None:
    create_chain_item(db)
    workers.heartbeat(db, "wk_a", now=T0)
    kw = {"now": T0, "lease": LONG, "limit": 10, "dead_before": T0 - DEAD_AFTER}
    [row] = outbox.claim_due(db, worker_id="wk_a", **kw)  # type: ignore[arg-type]
    assert outbox.release_held_by(db, "wk_a", keep=[row.id or 0]) == 0  # in flight: kept
    assert outbox.release_held_by(db, "wk_a", keep=[]) == 1
    [again] = outbox.claim_due(db, worker_id="wk_a", **kw)  # type: ignore[arg-type]
    assert again.id == row.id


def test_round_robin_claims_take_every_channel_before_a_second_row_of_any(
    db: Database,
) -> None:
    busy = [create_chain_item(db, n) for n in range(6)]  # channel C0OWNER
    with db.write() as session:
        other = session.get(ReviewItem, create_chain_item(db, 99))
        assert other is not None
        other.channel = "C0OTHER"
    rows = outbox.claim_due(db, now=T0, lease=LONG, limit=2, kinds=[OutboxKind.POST_ITEM])
    assert {row.item_id for row in rows} == {busy[0], other.id}
    paused = outbox.Paused(post_channels=frozenset({"C0OWNER"}))
    # Rows waiting on a channel's rate limit take no slot: nothing else is due.
    assert outbox.claim_due(db, now=T0, lease=LONG, limit=5, paused=paused) == []


def test_rate_limits_are_per_method_and_channel() -> None:
    limits = RateLimits()
    limits.pause(RateLimits.UPDATE, "C1", T0 + timedelta(seconds=300))
    assert limits.wait_seconds(RateLimits.UPDATE, "C1", T0) == 300
    assert limits.wait_seconds(RateLimits.UPDATE, "C2", T0) is None
    assert limits.wait_seconds(RateLimits.POST, "C1", T0) is None
    limits.pause("conversations.open", None, T0 + timedelta(seconds=5))
    assert limits.wait_seconds("conversations.open", "D1", T0) == 5  # no channel: everywhere
    paused = limits.paused(T0)
    assert paused.update_channels == {"C1"} and not paused.posts and not paused.updates
    assert limits.paused(T0 + timedelta(seconds=301)) == outbox.Paused()


def test_loop_health_tells_failing_and_stuck_loops() -> None:
    clock = [0.0]
    health = LoopHealth(clock=lambda: clock[0], wall_clock=lambda: 1_800_000_000 + clock[0])
    health.register("outbox", stale_after=10)
    clock[0] = 5
    assert health.problems() == {}
    for _ in range(3):
        health.failed("outbox", "database is locked")
    assert "database is locked" in health.problems()["outbox"]
    clock[0] = 6
    health.succeeded("outbox")
    assert health.problems() == {} and health.last_successes() == {"outbox": 1_800_000_006}
    clock[0] = 30
    assert "no completed cycle" in health.problems()["outbox"]


def test_manifest_asks_for_the_history_scopes_adoption_needs() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"channels:history", "groups:history", "im:history"} <= scopes

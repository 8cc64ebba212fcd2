"""Escalation precision and sweeper cost, with many items waiting.

    .venv/bin/python -m benchmarks.escalation_lateness --backend sqlite
    .venv/bin/python -m benchmarks.escalation_lateness --backend postgres

1. Lateness: 100,000 pending items wait on steps due in an hour; 1,000 more have a step
   due within the next 10 s (spread evenly); then a burst of 1,000 steps all due at the
   same instant (the issue's target: p99 under 1 s). The real EscalationClock (APScheduler
   sweep + wake-ups) fires them; lateness is fired_at - due_at as the firing records it,
   and the time its event was announced (after the commit) - due_at.
2. Sweeper cost: one sweep with nothing due, and the claim query alone, as the number of
   pending items grows from 1,000 to 100,000.
"""

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select

from benchmarks.common import database, percentile
from bot.escalation_clock import EscalationClock
from commands import EventBus, ItemChanged
from storage import deadlines
from storage.db import Database
from storage.migrate import migrate
from storage.models import EscalationStepRow, ReviewItem, table_of

ROUTE = {
    "name": "bench",
    "match": {"workflow": "bench", "agent": "*"},
    "owner": {"channel": "C0BENCH", "users": []},
    "escalation": [{"after": "1h", "to": ["U0MANAGER"], "channel": "C0ESC"}],
    "repeat": 0,
    "on_exhausted": "keep",
    "reject_reasons": ["other"],
    "approvals_required": 1,
    "audit_sample": 0.0,
    "auto_approve_at": None,
}


def add_items(db: Database, first: int, count: int, due: list[datetime]) -> None:
    """Bulk set-up (not the code under test): items with one pending step each."""
    now = datetime.now(UTC)
    items: list[dict[str, Any]] = [
        {
            "id": f"rv_bench{n:09d}",
            "agent": "bench",
            "workflow": "bench",
            "route": "bench",
            "route_snapshot": ROUTE,
            "rules_version": "bench",
            "title": f"Item {n}",
            "output": "output",
            "confidence": 0.5,
            "context": {},
            "links": [],
            "metadata": {},
            "status": "pending",
            "channel": "C0BENCH",
            "message_ts": None,
            "escalation_level": 0,
            "escalations": [],
            "approval_round": 0,
            "created_at": now,
            "deadline": due[n - first],
            "callback_status": "none",
        }
        for n in range(first, first + count)
    ]
    steps = [
        {
            "item_id": f"rv_bench{n:09d}",
            "step_index": 0,
            "step": 0,
            "repeat": 0,
            "exhaust": False,
            "due_at": due[n - first],
            "status": "pending",
        }
        for n in range(first, first + count)
    ]
    with db.write() as session:
        for start in range(0, count, 5000):
            session.execute(insert(table_of(ReviewItem)), items[start : start + 5000])
            session.execute(insert(table_of(EscalationStepRow)), steps[start : start + 5000])


def lateness(db: Database, backlog: int, first: int, spread_ms: int) -> None:
    """1,000 steps due `spread_ms` apart (0: all at one instant), beside `backlog` waiting.

    Two figures per step: as recorded (fired_at - due_at, the time the firing transaction
    began) and as announced (when the firing's event was published, after its commit: the
    moment the rest of hitl can see it)."""
    if backlog:
        far = datetime.now(UTC) + timedelta(hours=1)
        add_items(db, 0, backlog, [far] * backlog)
    announced: dict[str, datetime] = {}
    events = EventBus()

    def announce(event: ItemChanged) -> None:
        announced.setdefault(event.item_id, datetime.now(UTC))

    events.subscribe(announce)
    clock = EscalationClock(db=db, now=lambda: datetime.now(UTC), events=events, sweep_seconds=15)
    clock.start()
    try:
        clock.sweep()  # settle the start-up sweep before the measured items exist
        start = datetime.now(UTC) + timedelta(seconds=3)
        due = [start + timedelta(milliseconds=spread_ms * n) for n in range(1000)]
        add_items(db, first, 1000, due)
        clock.wake_at(due[0])  # as the API does for a new deadline
        # Until every step was announced, or long past the last due time.
        give_up = time.monotonic() + 3 + spread_ms + 60
        while len(announced) < 1000 and time.monotonic() < give_up:
            time.sleep(0.2)
    finally:
        clock.stop()
    with db.read() as session:
        rows = session.exec(
            select(EscalationStepRow).where(
                col(EscalationStepRow.item_id) >= f"rv_bench{first:09d}",
                col(EscalationStepRow.item_id) < f"rv_bench{first + 1000:09d}",
                EscalationStepRow.step_index == 0,
            )
        ).all()
    recorded = [(row.fired_at - row.due_at).total_seconds() * 1000 for row in rows if row.fired_at]
    seen = [
        (announced[row.item_id] - row.due_at).total_seconds() * 1000
        for row in rows
        if row.item_id in announced
    ]
    print(f"  lateness, {backlog:,} pending, 1,000 due {spread_ms} ms apart:")
    for name, late in (("recorded", recorded), ("announced", seen)):
        if not late:
            print(f"    {name:>9}: none of 1000 fired")
            continue
        print(
            f"    {name:>9}: fired {len(late)}/1000, median {statistics.median(late):.0f} ms, "
            f"p99 {percentile(late, 0.99):.0f} ms, max {max(late):.0f} ms"
        )


def sweep_cost(db: Database) -> None:
    far = datetime.now(UTC) + timedelta(days=1)
    clock = EscalationClock(db=db, now=lambda: datetime.now(UTC))
    have = 0
    for target in (1_000, 10_000, 100_000):
        add_items(db, 10_000_000 + have, target - have, [far] * (target - have))
        have = target
        runs = []
        claims = []
        for _ in range(20):
            started = time.perf_counter()
            clock.sweep()
            runs.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            deadlines.claim_due(db, now=datetime.now(UTC), lease=timedelta(seconds=60), limit=500)
            claims.append((time.perf_counter() - started) * 1000)
        print(
            f"  sweep with nothing due, {target:>7,} pending: "
            f"median {statistics.median(runs):.2f} ms "
            f"(claim query {statistics.median(claims):.2f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    print(f"backend={args.backend}")
    with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
        db = Database(url)
        migrate(db)
        lateness(db, args.backlog, first=args.backlog, spread_ms=10)
        lateness(db, 0, first=args.backlog + 1000, spread_ms=0)
        db.dispose()
    with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
        db = Database(url)
        migrate(db)
        sweep_cost(db)
        db.dispose()


if __name__ == "__main__":
    main()

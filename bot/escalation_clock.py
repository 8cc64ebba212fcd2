"""The clock that fires escalations: APScheduler jobs over deadline rows in the database.

Every replica runs a periodic sweep (catches steps that fell due while it, or another
replica, was down) and a one-shot wake-up at the next due time, so a step fires within
moments of its due time without scanning everything. The jobs live in memory; the
deadlines live in the database, where claiming them makes each fire once. What a due step
does is `commands.fire_steps`, what a due reminder does `commands.reminders`; the clock only
decides when to look, and holds back what falls due outside its route's working hours.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

import commands
from bot.heartbeat import Heartbeat
from bot.metrics import LoopHealth
from bot.scheduler import create_scheduler, scheduler_time
from commands import EventBus
from commands.reminders import fire_reminders
from handlers.escalation_blocks import escalation_note
from rules.calendar import Calendar, is_working_time, next_working_instant
from rules.schema import Route
from storage import deadlines
from storage.db import Database
from storage.deadlines import DeadlineRow
from storage.escalations import FireOutcome
from storage.models import EscalationStepRow, ReminderRow

log = logging.getLogger(__name__)

LOOP = "escalation_clock"
_WAKE_JOB = "escalation-wake"
_SWEEP_JOB = "escalation-sweep"
_FIRE_CHUNK = 100  # steps fired per transaction (a fixed number of statements each)
# A row due at the very end of a working day that the clock reaches this much later still
# fires then, rather than waiting for the next morning.
ON_TIME = timedelta(seconds=10)


class EscalationClock:
    def __init__(
        self,
        *,
        db: Database,
        now: Callable[[], datetime],
        events: EventBus | None = None,
        sweep_seconds: float = 15.0,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 500,
        scheduler: BackgroundScheduler | None = None,
        heartbeat: Heartbeat | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        self.db = db
        self.events = events or EventBus()  # the composition subscribes metrics and wake-ups
        self.now = now
        self.sweep_seconds = sweep_seconds
        self.lease = lease
        self.batch = batch
        self.heartbeat = heartbeat
        self.health = health or LoopHealth()
        self.health.register(LOOP, stale_after=max(30.0, 3 * sweep_seconds))
        self._failures = 0
        self._sweeping = threading.Lock()
        # Firing is one short transaction per step; on PostgreSQL several run side by side
        # (SQLite takes one writer at a time, so more threads would only queue).
        self._firers = ThreadPoolExecutor(1 if db.is_sqlite else 4, thread_name_prefix="fire")
        self._wake_at: datetime | None = None
        self._stopping = threading.Event()
        self._wake_lock = threading.Lock()
        # A clock given no scheduler runs its own (benchmarks); in `hitl serve` the runtime
        # shares one and starts and stops it.
        self._owns_scheduler = scheduler is None
        # Calendars of frozen routes by (route, rules version); None: no working hours.
        self._calendars: dict[deadlines.RouteVersion, Calendar | None] = {}
        self.scheduler = scheduler or create_scheduler()

    def start(self) -> None:
        # The first sweep runs at once: steps that fell due while everything was down.
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.sweep_seconds,
            id=_SWEEP_JOB,
            next_run_time=datetime.now(UTC),  # at once, on the scheduler's clock
        )
        if self._owns_scheduler:
            self.scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        # Not shutdown(wait=True): it holds the job-store lock while it waits, and a running
        # sweep that schedules its next wake-up would wait on that lock forever.
        if self._owns_scheduler:
            self.scheduler.shutdown(wait=False)
        if self._sweeping.acquire(timeout=3):  # let a running sweep finish its chunk
            self._sweeping.release()
        self._firers.shutdown(wait=True)

    def wake_at(self, due_at: datetime) -> None:
        """Make sure a sweep runs at `due_at` (a new deadline may be earlier than the next)."""
        if self._stopping.is_set():
            return
        with self._wake_lock:
            if self._wake_at is not None and self._wake_at <= due_at:
                return  # an earlier wake-up is already set; its sweep reschedules
            self._wake_at = due_at
            self.scheduler.add_job(
                self.sweep,
                "date",
                run_date=scheduler_time(due_at, self.now),
                id=_WAKE_JOB,
                replace_existing=True,
            )

    def sweep(self) -> int:
        """Fires every due step; returns how many it fired."""
        if not self._sweeping.acquire(blocking=False):
            return 0  # another sweep is running and will see the same rows
        fired = 0
        try:
            if self._failures and self.heartbeat is not None:
                # A failed claim may have leased steps (commit done, answer lost); no step
                # is being fired now, so whatever this worker holds is free again.
                deadlines.release_held_by(self.db, self.heartbeat.worker_id)
            while True:
                now = self.now()
                claimed = deadlines.claim_due(
                    self.db,
                    now=now,
                    lease=self.lease,
                    limit=self.batch,
                    worker_id=self.heartbeat.worker_id if self.heartbeat else None,
                    dead_before=self.heartbeat.dead_before() if self.heartbeat else None,
                )
                rows = self._in_working_hours(EscalationStepRow, claimed, now)
                chunks = [rows[i : i + _FIRE_CHUNK] for i in range(0, len(rows), _FIRE_CHUNK)]
                fired += sum(self._firers.map(self._fire, chunks))
                if len(claimed) < self.batch or self._stopping.is_set():
                    break
            fired += self._remind()
        except Exception as error:
            self._failures += 1
            self.health.failed(LOOP, error)
            retry_in = min(self.sweep_seconds, 2.0**self._failures)
            if self._failures == 1:
                log.exception("escalation sweep failed; trying again in %.0fs", retry_in)
            else:
                log.warning("escalation sweep failed again (%s)", error)
            self._sweeping.release()
            # Back off, but sooner than the next periodic sweep when that is far away.
            self.wake_at(self.now() + timedelta(seconds=retry_in))
            return fired
        self._failures = 0
        self.health.succeeded(LOOP)
        self._sweeping.release()
        self._schedule_next_wake()
        return fired

    def _remind(self) -> int:
        """Posts every due reminder (a reply in the item's thread); returns how many."""
        posted = 0
        while not self._stopping.is_set():
            now = self.now()
            if not deadlines.any_due(self.db, ReminderRow, now):
                break
            claimed = deadlines.claim_due_rows(
                self.db,
                ReminderRow,
                now=now,
                lease=self.lease,
                limit=self.batch,
                worker_id=self.heartbeat.worker_id if self.heartbeat else None,
                dead_before=self.heartbeat.dead_before() if self.heartbeat else None,
            )
            rows = self._in_working_hours(ReminderRow, claimed, now)
            ids = [row.id for row in rows if row.id is not None]
            for start in range(0, len(ids), _FIRE_CHUNK):
                posted += self._fire_reminders(ids[start : start + _FIRE_CHUNK])
            if len(claimed) < self.batch:
                break
        return posted

    def _fire_reminders(self, ids: list[int]) -> int:
        """One transaction per chunk; one by one if that fails, so one broken item cannot
        hold back the others' reminders."""
        try:
            return fire_reminders(self.db, ids, now=self.now())
        except Exception:
            if len(ids) == 1:
                log.exception("reminder %s failed", ids[0])
                return 0
            return sum(self._fire_reminders([one]) for one in ids)

    def _in_working_hours(
        self, model: type[DeadlineRow], rows: list[DeadlineRow], now: datetime
    ) -> list[DeadlineRow]:
        """The claimed rows that may fire now; a row of a route with working hours that is
        due outside them (the clock was down over the weekend, or reached the end of the
        day late) waits for the next working instant instead."""
        versions = deadlines.route_versions_of(self.db, {row.item_id for row in rows})
        ready: list[DeadlineRow] = []
        for row in rows:
            calendar = self._calendar(versions.get(row.item_id), row.item_id)
            if calendar is None or is_working_time(calendar, now) or now <= row.due_at + ON_TIME:
                ready.append(row)
            elif row.id is not None:
                deadlines.defer(self.db, model, row.id, next_working_instant(calendar, now))
        return ready

    def _calendar(self, version: deadlines.RouteVersion | None, item_id: str) -> Calendar | None:
        """The calendar of a frozen route, read once per route and rules version."""
        if version is None:
            return None
        if version not in self._calendars:
            if len(self._calendars) > 10_000:
                self._calendars.clear()  # rules files come and go; keep the memory bounded
            snapshot = deadlines.frozen_route_of(self.db, item_id)
            has_hours = snapshot is not None and snapshot.get("hours")
            self._calendars[version] = (
                Route.model_validate(snapshot).calendar() if has_hours else None
            )
        return self._calendars[version]

    def _fire(self, rows: list[EscalationStepRow]) -> int:
        """Fires a chunk of claimed steps in one transaction; one by one if that fails, so
        one broken item cannot hold back the others."""
        ids = [row.id for row in rows if row.id is not None]
        try:
            results = commands.fire_steps(
                self.db, ids, now=self.now(), events=self.events, thread_note=escalation_note
            )
        except Exception:
            if len(ids) == 1:
                log.exception("escalation: firing step %s failed", ids[0])
                return 0
            return sum(self._fire([row]) for row in rows)
        fired = 0
        for result in results:
            if result.outcome != FireOutcome.STALE:
                fired += 1  # logged and announced by the command
        return fired

    def _schedule_next_wake(self) -> None:
        try:
            next_due = deadlines.next_due_at(self.db)
        except Exception:
            log.exception("escalation: cannot read the next deadline")
            return
        with self._wake_lock:
            self._wake_at = None
        if next_due is not None:
            self.wake_at(next_due)

"""Prometheus metrics, one registry per running app (so tests can run several)."""

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import func, select

from commands import ChangeKind, ItemChanged
from storage.alert_queries import alert_counts
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, ReviewItem, Status
from storage.outbox import oldest_pending_created_at
from storage.types import utcnow

# Consecutive failed cycles after which a loop counts as failing (one blip is not).
FAILING_AFTER = 3


@dataclass
class LoopState:
    stale_after: float  # seconds without a completed cycle before the loop counts as stuck
    started_at: float  # monotonic
    last_success: float | None = None  # monotonic
    last_success_unix: float | None = None
    failures: int = 0  # consecutive failed cycles
    last_error: str | None = None


class LoopHealth:
    """What each background loop last achieved, for /healthz and /metrics.

    Real time, not the application's clock: "has it made progress lately" is about the
    process, whatever time the items are stamped with."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._loops: dict[str, LoopState] = {}

    def register(self, loop: str, *, stale_after: float) -> None:
        with self._lock:
            self._loops[loop] = LoopState(stale_after=stale_after, started_at=self._clock())

    def succeeded(self, loop: str) -> None:
        with self._lock:
            state = self._loops.get(loop)
            if state is not None:
                state.last_success, state.last_success_unix = self._clock(), self._wall_clock()
                state.failures, state.last_error = 0, None

    def failed(self, loop: str, error: BaseException | str) -> None:
        with self._lock:
            state = self._loops.get(loop)
            if state is not None:
                state.failures += 1
                text = str(error).strip()
                state.last_error = text.splitlines()[0][:200] if text else repr(error)

    def last_successes(self) -> dict[str, float | None]:
        """Unix time of each loop's last completed cycle."""
        with self._lock:
            return {loop: state.last_success_unix for loop, state in self._loops.items()}

    def problems(self) -> dict[str, str]:
        """Loops that are failing or have not completed a cycle recently, with the reason."""
        found: dict[str, str] = {}
        now = self._clock()
        with self._lock:
            for loop, state in self._loops.items():
                idle = now - (state.last_success or state.started_at)
                if state.failures >= FAILING_AFTER:
                    found[loop] = f"failing ({state.failures} cycles in a row): {state.last_error}"
                elif idle > state.stale_after:
                    found[loop] = f"no completed cycle for {idle:.0f}s" + (
                        f": {state.last_error}" if state.last_error else ""
                    )
        return found


class _DatabaseGauges(Collector):
    """Backlog and drift alert figures read from the database at scrape time: true across
    replicas, whichever of them raised an alert."""

    def __init__(self, db: Database, health: LoopHealth) -> None:
        self.db = db
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        last_success = GaugeMetricFamily(
            "hitl_loop_last_success_timestamp_seconds",
            "When each background loop last completed a cycle (Unix time)",
            labels=["loop"],
        )
        for loop, at in self.health.last_successes().items():
            if at is not None:
                last_success.add_metric([loop], at)
        yield last_success
        try:  # the loop figures above still count while the database is down
            yield from self._database_figures()
        except Exception:
            return

    def _database_figures(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        oldest = GaugeMetricFamily(
            "hitl_outbox_oldest_pending_age_seconds",
            "Age of the oldest side effect not yet delivered (0 when none)",
        )
        created = oldest_pending_created_at(self.db)
        oldest.add_metric([], max(0.0, (utcnow() - created).total_seconds()) if created else 0.0)
        yield oldest
        pending = GaugeMetricFamily("hitl_items_pending", "Items waiting for a decision")
        backlog = GaugeMetricFamily(
            "hitl_outbox_pending", "Side effects not yet delivered", labels=["kind"]
        )
        failed = GaugeMetricFamily(
            "hitl_outbox_failed", "Side effects given up on", labels=["kind"]
        )
        with self.db.read() as session:
            pending.add_metric(
                [],
                session.exec(select(func.count()).where(ReviewItem.status == Status.PENDING)).one(),
            )
            rows = session.exec(
                select(OutboxMessage.kind, OutboxMessage.status, func.count())
                .where(OutboxMessage.status != OutboxStatus.DONE)
                .group_by(OutboxMessage.kind, OutboxMessage.status)
            ).all()
        for kind, status, count in rows:
            (backlog if status == OutboxStatus.PENDING else failed).add_metric([kind], count)
        yield from (pending, backlog, failed)
        yield from self._drift_alerts()

    def _drift_alerts(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        # A counter read from the rows: alerts are never deleted, so it only grows.
        total = CounterMetricFamily(
            "hitl_drift_alerts",
            "Drift alerts raised (episodes of a rising rejection or edit rate)",
            labels=["workflow", "metric"],
        )
        # 0 rather than absent once an episode closed, so a graph shows it end.
        open_ = GaugeMetricFamily(
            "hitl_drift_alerts_open",
            "Drift alerts still open (the rise goes on)",
            labels=["workflow", "metric"],
        )
        for count in alert_counts(self.db):
            total.add_metric([count.workflow, count.metric], count.total)
            open_.add_metric([count.workflow, count.metric], count.open)
        yield from (total, open_)


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.submitted = Counter(
            "hitl_items_submitted",
            "Items accepted from agents",
            ["route", "status"],
            registry=self.registry,
        )
        self.decided = Counter(
            "hitl_decisions", "Final decisions", ["status", "source"], registry=self.registry
        )
        self.deliveries = Counter(
            "hitl_outbox_deliveries",
            "Outbox delivery attempts",
            ["kind", "result"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "hitl_outbox_delivery_seconds",
            "Time to deliver one side effect",
            ["kind"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "hitl_escalations", "Escalation steps fired", ["outcome"], registry=self.registry
        )
        self.health = LoopHealth()
        self.registry.register(_DatabaseGauges(db, self.health))

    def on_event(self, event: ItemChanged) -> None:
        """Counts what the commands announce (subscribed once, in the composition): every
        submission, every final decision by status and source (auto-approvals, expiries and
        chain rejections included), every escalation step."""
        if event.kind == ChangeKind.SUBMITTED:
            self.submitted.labels(event.route, event.status).inc()
        if event.decided:
            self.decided.labels(event.status, event.source).inc()
        if event.kind in (ChangeKind.ESCALATED, ChangeKind.EXHAUSTED):
            self.escalations.labels(event.kind).inc()

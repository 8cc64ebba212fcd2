"""Prometheus metrics, one registry per running app (so tests can run several)."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import func, select

from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, ReviewItem, Status


class _DatabaseGauges(Collector):
    """Backlog figures read from the database at scrape time: true across replicas."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
        self.registry.register(_DatabaseGauges(db))

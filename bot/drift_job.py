"""The hourly drift alarm: each workflow's rejection and edit rates against their last 28
days (digest/drift.py), one Slack alert per episode of a significant rise.

APScheduler fires the run at every full hour on every replica; a unique (job, period)
row per UTC hour decides which one writes it. A watch runs the current hour when nobody
has (the hour's run failed, or every replica was down at minute 0), so the alarm recovers
by itself once the database is back. Each run recomputes everything from the counts, so
a late or repeated run finds what the on-time one would have.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from ulid import ULID

from bot.metrics import LoopHealth
from bot.rules_provider import RulesProvider
from digest import drift
from storage import alerts, drift_queries
from storage.db import Database
from storage.models import AlertStatus, DriftAlert, Status

log = logging.getLogger(__name__)

_CRON_JOB = "drift-hourly"
_WATCH_JOB = "drift-watch"
_WATCH_SECONDS = 300.0
LOOP = "drift_job"
DEFAULT_CONFIG = drift.DriftConfig()
_EVENT_STATUS: dict[drift.Metric, Status] = {
    "rejection": Status.REJECTED,
    "edit": Status.EDITED,
}


def hour_label(now: datetime) -> str:
    """The UTC hour a run belongs to, like `2026-11-23T13`."""
    return f"{drift.hour_start(now):%Y-%m-%dT%H}"


def evidence_entry(finding: drift.Finding) -> dict[str, object]:
    return {
        "dimension": finding.key.dimension,
        "value": finding.key.value,
        "metric": finding.metric,
        "statistic": finding.statistic,
        "baseline_rate": finding.baseline_rate,
        "recent_rate": finding.recent_rate,
        "recent_decided": finding.recent_decided,
        "recent_events": finding.recent_events,
        "began_at": finding.began_at.isoformat(),
        # Tested against the workflow's baseline: the series had too little history.
        "own_baseline": finding.own_baseline,
    }


def episode_of(alert: DriftAlert) -> drift.OpenEpisode:
    metric: drift.Metric = "edit" if alert.metric == "edit" else "rejection"
    dimension: drift.Dimension = (
        "model"
        if alert.dimension == "model"
        else "prompt_version"
        if alert.dimension == "prompt_version"
        else "overall"
    )
    key = drift.SeriesKey(alert.workflow, dimension, alert.value)
    return drift.OpenEpisode(workflow=alert.workflow, metric=metric, key=key)


class DriftJob:
    def __init__(
        self,
        *,
        db: Database,
        rules: RulesProvider,
        scheduler: BaseScheduler,
        now: Callable[[], datetime],
        queued: Callable[[], None],
        health: LoopHealth | None = None,
        config: drift.DriftConfig = DEFAULT_CONFIG,
    ) -> None:
        self.db = db
        self.rules = rules
        self.scheduler = scheduler
        self.now = now
        self.queued = queued  # wakes the outbox worker
        self.config = config
        self.health = health or LoopHealth()
        self.health.register(LOOP, stale_after=3 * _WATCH_SECONDS)

    def start(self) -> None:
        self.scheduler.add_job(
            self.run_safely,
            CronTrigger(minute=0, timezone="UTC"),
            id=_CRON_JOB,
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.watch,
            "interval",
            seconds=_WATCH_SECONDS,
            id=_WATCH_JOB,
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # at once, on the scheduler's clock
        )

    def run_safely(self) -> None:
        """The cron's entry: a failure is logged and left to the watch."""
        self._reporting(self.run, "the hourly run failed (%s); the watch tries again")

    def watch(self) -> None:
        """Runs the current hour if no replica has: catch-up after a failure or outage."""
        self._reporting(self._catch_up, "checking the hour failed (%s); trying again shortly")

    def _catch_up(self) -> None:
        if self._enabled() is not None and not alerts.hour_done(self.db, hour_label(self.now())):
            self.run()

    def _reporting(self, work: Callable[[], object], failure: str) -> None:
        """Runs `work`, telling LoopHealth (so /healthz sees) whether it went through."""
        try:
            work()
        except Exception as error:
            self.health.failed(LOOP, error)
            log.warning("drift: " + failure, error)
            return
        self.health.succeeded(LOOP)

    def _enabled(self) -> str | None:
        """The channel alerts go to, or None when the alarm is off."""
        rules = self.rules.current().rules
        return rules.alerts_channel if rules.alerts.drift else None

    def run(self) -> list[DriftAlert] | None:
        """Runs the alarm for the current hour. The alerts it raised (maybe none), or None
        when it wrote nothing: the alarm is off, or another replica had the hour."""
        if self._enabled() is None:
            return None
        now = self.now()
        config = self.config
        since = now - timedelta(days=config.baseline_days, hours=config.window_hours)
        history = drift.series_of_counts(drift_queries.hourly_decisions(self.db, since, now))
        findings = drift.evaluate(history, now=now, config=config)
        open_alerts = alerts.open_alerts(self.db)
        changes = drift.decide(findings, [episode_of(alert) for alert in open_alerts])
        opened = [self._alert(new, now) for new in changes.opened]
        closed = [alert.id for alert in open_alerts if episode_of(alert) in set(changes.closed)]
        period = hour_label(now)
        if not alerts.record_hour(
            self.db, period=period, since=since, until=now, now=now, opened=opened, closed=closed
        ):
            log.info("drift: hour %s was run by another replica", period)
            return None
        for alert in opened:
            log.warning(
                "drift alert %s: %s rate of %s (%s) rose from %.1f%% to %.1f%% since %s",
                alert.id,
                alert.metric,
                alert.workflow,
                alert.value or alert.dimension,
                100 * alert.baseline_rate,
                100 * alert.recent_rate,
                alert.began_at.isoformat(),
            )
        for alert_id in closed:
            log.info("drift alert %s: the rise is over, episode closed", alert_id)
        if opened:
            self.queued()
        return opened

    def _alert(self, new: drift.NewAlert, now: datetime) -> DriftAlert:
        finding = new.finding
        key = finding.key
        examples = drift_queries.recent_examples(
            self.db,
            workflow=key.workflow,
            statuses=[_EVENT_STATUS[finding.metric]],
            dimension=key.dimension,
            value=key.value,
            since=finding.began_at,
            until=now,
        )
        return DriftAlert(
            id=f"al_{ULID()}",
            workflow=key.workflow,
            metric=finding.metric,
            dimension=key.dimension,
            value=key.value,
            status=AlertStatus.OPEN,
            began_at=finding.began_at,
            detected_at=now,
            baseline_rate=finding.baseline_rate,
            baseline_decided=finding.baseline_decided,
            recent_rate=finding.recent_rate,
            recent_decided=finding.recent_decided,
            recent_events=finding.recent_events,
            statistic=finding.statistic,
            threshold=finding.threshold,
            evidence=[evidence_entry(item) for item in new.evidence],
            examples=examples,
        )

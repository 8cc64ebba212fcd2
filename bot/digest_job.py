"""The weekly digest on a schedule: APScheduler fires the cron from `digest.schedule` on
every replica; a unique (job, period) row decides which one posts. A digest missed while
everything was down is posted on start."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.metrics import LoopHealth
from bot.rules_provider import RulesProvider
from digest import periods
from digest.model import Period
from storage import digest_queries, digests
from storage.db import Database

log = logging.getLogger(__name__)

JOB = "weekly"
_CRON_JOB = "digest-weekly"
_WATCH_JOB = "digest-rules-watch"
_WATCH_SECONDS = 60.0
LOOP = "digest_job"


class DigestJob:
    def __init__(
        self,
        *,
        db: Database,
        rules: RulesProvider,
        scheduler: BaseScheduler,
        now: Callable[[], datetime],
        queued: Callable[[], None],
        health: LoopHealth | None = None,
    ) -> None:
        self.db = db
        self.rules = rules
        self.scheduler = scheduler
        self.now = now
        self.queued = queued  # wakes the outbox worker
        self._scheduled: tuple[str, str] | None = None
        self.health = health or LoopHealth()
        self.health.register(LOOP, stale_after=3 * _WATCH_SECONDS)

    def start(self) -> None:
        # Rules are reloaded on change; the watch notices a new schedule without traffic,
        # and its catch-up posts a digest whose cron run failed (database down) once the
        # database is back: the job recovers by itself.
        self.scheduler.add_job(
            self.watch,
            "interval",
            seconds=_WATCH_SECONDS,
            id=_WATCH_JOB,
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # at once, on the scheduler's clock
        )

    def watch(self) -> None:
        try:
            self._schedule()
            self.catch_up()
        except Exception as error:
            self.health.failed(LOOP, error)
            log.warning("digest: checking the schedule failed (%s); trying again shortly", error)
            return
        self.health.succeeded(LOOP)

    def _schedule(self) -> None:
        rules = self.rules.current().rules
        config = rules.digest
        wanted = (config.schedule, rules.timezone) if config else None
        if wanted == self._scheduled:
            return
        self._scheduled = wanted
        if config is None:
            if self.scheduler.get_job(_CRON_JOB):
                self.scheduler.remove_job(_CRON_JOB)
            return
        trigger = CronTrigger(
            day_of_week=config.weekday,
            hour=config.hour,
            minute=config.minute,
            timezone=rules.tzinfo,
        )
        self.scheduler.add_job(self.run, trigger, id=_CRON_JOB, replace_existing=True)
        log.info("digest scheduled %s (%s)", config.schedule, rules.timezone)

    def run(self) -> bool:
        """Claims the last full week's digest; True if this replica queued it."""
        rules = self.rules.current().rules
        if rules.digest is None:
            return False
        return self._claim(periods.last_full_week(self.now(), rules.tzinfo))

    def catch_up(self) -> bool:
        """Posts the latest scheduled digest if it was missed while nothing was running."""
        rules = self.rules.current().rules
        if rules.digest is None:
            return False
        due = periods.latest_run(self.now(), rules.digest.weekly_time, rules.tzinfo)
        period = periods.last_full_week(due, rules.tzinfo)
        if digests.has_run(self.db, JOB, period.label):
            return False
        if not digest_queries.any_item_before(self.db, due):
            return False  # hitl was not in use yet: nothing was missed
        log.info("digest for %s was due at %s and not posted: posting it now", period.label, due)
        return self._claim(period)

    def _claim(self, period: Period) -> bool:
        run = digests.claim_period(
            self.db,
            job=JOB,
            period=period.label,
            since=period.since,
            until=period.until,
            now=self.now(),
        )
        if run is None:
            return False
        self.queued()
        return True

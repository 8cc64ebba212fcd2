"""The process's one APScheduler: jobs in memory, deadlines and runs in the database.

APScheduler 3 cannot share a job store between schedulers, so every replica keeps its own
in-memory jobs; what must happen once is decided by database rows (deadlines, digest runs).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler


def create_scheduler() -> BackgroundScheduler:
    # A sweep that outlasts its interval makes APScheduler warn on every tick; the overlap
    # is intended (the running sweep handles the rows), so only its errors are shown.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )


def scheduler_time(when: datetime, now: Callable[[], datetime]) -> datetime:
    """`when`, on the injected clock `now`, as the scheduler's own (real) time.

    APScheduler times its jobs by the wall clock; the loops decide what is due by their
    injected clock. In production the two are the same; a test's clock may stand weeks in
    the past, and a job started "then" would make APScheduler count every missed interval
    since, holding its job-store lock (and every `add_job`) meanwhile.
    """
    return datetime.now(UTC) + max(timedelta(0), when - now())

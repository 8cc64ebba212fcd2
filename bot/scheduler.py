"""The process's one APScheduler: jobs in memory, deadlines and runs in the database.

APScheduler 3 cannot share a job store between schedulers, so every replica keeps its own
in-memory jobs; what must happen once is decided by database rows (deadlines, digest runs).
"""

import logging

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

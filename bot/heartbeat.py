"""This process's heartbeat: a row in the `worker` table written every few seconds.

Leases (outbox rows, deadlines) record the worker that holds them; another process
treats a lease whose holder has been silent for `dead_after` as free, so a crashed
process's work is taken over in seconds instead of when its lease runs out.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from ulid import ULID

from bot.metrics import LoopHealth
from storage import workers
from storage.db import Database

log = logging.getLogger(__name__)

LOOP = "heartbeat"
_FORGET_EVERY = 500  # beats between clean-ups of long-dead workers' rows
_FORGET_AFTER = timedelta(days=1)


class Heartbeat:
    def __init__(
        self,
        *,
        db: Database,
        now: Callable[[], datetime],
        health: LoopHealth,
        every_seconds: float = 2.0,
        dead_after_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.now = now
        self.health = health
        self.every_seconds = every_seconds
        self.dead_after = timedelta(seconds=dead_after_seconds)
        self.worker_id = f"wk_{ULID()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        health.register(LOOP, stale_after=max(3 * every_seconds, 10.0))

    def dead_before(self) -> datetime:
        """Holders whose last beat is older than this are gone."""
        return self.now() - self.dead_after

    def beat(self) -> None:
        workers.heartbeat(self.db, self.worker_id, now=self.now())
        self.health.succeeded(LOOP)

    def start(self) -> None:
        try:
            self.beat()  # before the first claim, so our own leases count at once
        except Exception as error:
            self.health.failed(LOOP, error)
            log.warning("heartbeat: cannot write (%s); trying again", error)
        self._thread.start()

    def _run(self) -> None:
        beats = 0
        while not self._stop.wait(self.every_seconds):
            try:
                self.beat()
                beats += 1
                if beats % _FORGET_EVERY == 0:  # rows of processes killed long ago
                    workers.forget_dead(self.db, dead_before=self.now() - _FORGET_AFTER)
            except Exception as error:
                self.health.failed(LOOP, error)
                log.warning("heartbeat: cannot write (%s); trying again", error)

    def stop(self) -> None:
        """A clean exit removes our row: what we still hold is free for others at once."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            workers.remove(self.db, self.worker_id)
        except Exception as error:
            log.warning("heartbeat: cannot remove worker row (%s)", error)

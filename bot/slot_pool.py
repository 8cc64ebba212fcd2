"""Delivery threads behind a fixed number of slots: one pool for Slack, one for callbacks."""

import queue
import threading
from collections.abc import Callable

from storage.models import OutboxMessage


class SlotPool:
    """A fixed number of delivery threads and the slots that feed them.

    The claim loop takes free slots before claiming and gives back what it did not use;
    a delivery gives its slot back when it ends, however it ends. A freed slot calls
    `freed` (wakes the claim loop) only while `backlog` is set: the last claim filled every
    free slot, or found none free, so more rows may be due; after a claim that left slots
    free nothing more was due, and the next submission or poll wakes the loop instead.
    Threads are daemons: a delivery hung on a dead receiver never keeps the process from
    exiting.
    """

    def __init__(
        self,
        name: str,
        size: int,
        deliver: Callable[[OutboxMessage], None],
        freed: Callable[[], None],
    ) -> None:
        self.name = name
        self.size = size
        self._deliver = deliver
        self._freed = freed
        self._slots = threading.Semaphore(size)
        self._queue: queue.SimpleQueue[OutboxMessage | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight: dict[int, OutboxMessage] = {}
        self.backlog = True  # a freed slot wakes the claim loop (see the class docstring)
        self._threads = [
            threading.Thread(target=self._run, name=f"outbox-{name}-{i}", daemon=True)
            for i in range(size)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def take_free(self) -> int:
        free = 0
        while self._slots.acquire(blocking=False):
            free += 1
        return free

    def give_back(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def submit(self, row: OutboxMessage) -> None:
        with self._lock:
            self._in_flight[row.id or 0] = row
        self._queue.put(row)

    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._in_flight)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _run(self) -> None:
        while (row := self._queue.get()) is not None:
            try:
                self._deliver(row)
            finally:
                with self._lock:
                    self._in_flight.pop(row.id or 0, None)
                self._slots.release()
                if self.backlog:
                    self._freed()

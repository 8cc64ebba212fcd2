"""Delivery threads behind a fixed number of slots: one pool for Slack, one for callbacks."""

import queue
import threading
from collections.abc import Callable

from storage.models import OutboxMessage


class SlotPool:
    """A fixed number of delivery threads and the slots that feed them.

    The claim loop takes free slots before claiming and gives back what it did not use;
    a delivery gives its slot back when it ends, however it ends. There are `size` threads
    and `size + prefetch` slots: the rows of the extra slots wait in the pool's queue, so
    under a backlog one claim fills many slots and the threads never wait for the next one
    (a claim over a big backlog costs about as much as a Slack call).

    Freed slots call `freed` (wake the claim loop) only while `backlog` is set (the last
    claim filled every free slot, or found none free, so more rows may be due) and once
    enough are free to make a claim worth it: one without prefetch, half the slots with.
    After a claim that left slots free nothing more was due, and the next submission or
    poll wakes the loop instead. Threads are daemons: a delivery hung on a dead receiver
    never keeps the process from exiting.
    """

    def __init__(
        self,
        name: str,
        size: int,
        deliver: Callable[[OutboxMessage], None],
        freed: Callable[[], None],
        prefetch: int = 0,
    ) -> None:
        self.name = name
        self.size = size
        self.capacity = size + prefetch
        self._refill_at = max(1, self.capacity // 2) if prefetch else 1
        self._deliver = deliver
        self._freed = freed
        self._free = self.capacity
        self._queue: queue.SimpleQueue[OutboxMessage | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight: dict[int, OutboxMessage] = {}  # started or waiting in the queue
        self.backlog = True  # a freed slot wakes the claim loop (see the class docstring)
        self._threads = [
            threading.Thread(target=self._run, name=f"outbox-{name}-{i}", daemon=True)
            for i in range(size)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def take_free(self) -> int:
        with self._lock:
            free, self._free = self._free, 0
        return free

    def give_back(self, count: int) -> None:
        with self._lock:
            self._free += count

    def submit(self, row: OutboxMessage) -> None:
        with self._lock:
            self._in_flight[row.id or 0] = row
        self._queue.put(row)

    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._in_flight)

    def drop_waiting(self) -> list[int]:
        """Takes the rows no thread has started out of the queue (shutdown: they are
        handed back, never started after that)."""
        dropped: list[int] = []
        while True:
            try:
                row = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            if row is None:  # a stop sentinel: keep it for its thread
                self._queue.put(None)
                return dropped
            with self._lock:
                self._in_flight.pop(row.id or 0, None)
                self._free += 1
            dropped.append(row.id or 0)

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
                    self._free += 1
                    wake = self.backlog and self._free >= self._refill_at
                if wake:
                    self._freed()

"""In-process wake-ups: a change wakes the outbox worker and any long-poll waiting on it.
Other replicas' changes are seen by polling the database, so this only makes things faster.
Subscribed once to the commands' events in the composition (bot/server.py)."""

import asyncio
import threading
from collections import defaultdict

from commands import ItemChanged


class ChangeSignals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )
        self.outbox = threading.Event()

    def on_event(self, event: ItemChanged) -> None:
        """Every committed change may have queued outbox rows and may end a long-poll."""
        self.changed(event.item_id)

    def changed(self, item_id: str | None = None) -> None:
        """Safe to call from any thread."""
        self.outbox.set()
        if item_id is None:
            return
        with self._lock:
            waiters = list(self._waiters.get(item_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait(self, item_id: str, timeout: float) -> None:
        """Returns when `item_id` changes in this process, or after `timeout` seconds."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[item_id].add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters[item_id].discard(entry)
                if not self._waiters[item_id]:
                    del self._waiters[item_id]

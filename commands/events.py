"""The one announcement of a change: each command publishes one `ItemChanged` after its
commit, and whoever reacts (metrics, long-poll and outbox wake-ups, the escalation clock)
subscribes once, in the composition. Nothing here knows who listens."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.models import Status

log = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    SUBMITTED = "submitted"  # a new item (pending, or auto-approved at once)
    APPROVAL_RECORDED = "approval_recorded"  # four-eyes: one more approval, not yet decided
    DECIDED = "decided"  # a final decision by a person or the agent (cancel)
    SPOT_CHECKED = "spot_checked"  # a verdict on an auto-approved item
    ESCALATED = "escalated"  # a due step asked the next people
    EXHAUSTED = "exhausted"  # the chain ran out: expired or rejected by hitl
    TAKEN = "taken"  # someone is on it ("Take it"); others may still decide
    HANDED_OVER = "handed_over"  # someone else is on it now, and was sent it by DM
    COMMENTED = "commented"  # a reply in its thread was recorded, edited or deleted


@dataclass(frozen=True)
class ItemChanged:
    item_id: str
    kind: ChangeKind
    status: Status  # the item's status after the change
    source: str  # api | slack | system
    route: str
    deadline: datetime | None = None  # the item's next escalation deadline, if any

    @property
    def decided(self) -> bool:
        """Whether this change is the item's final decision (counted once per item)."""
        if self.kind == ChangeKind.SUBMITTED:
            return self.status != Status.PENDING  # auto-approved on arrival
        return self.kind in (ChangeKind.DECIDED, ChangeKind.EXHAUSTED)


Subscriber = Callable[[ItemChanged], None]


class EventBus:
    """In-process and synchronous: a subscriber runs in the publishing thread, after the
    commit, so it must be quick. One failing subscriber never fails the command (the change
    is already committed) nor keeps the event from the others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, event: ItemChanged) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception(
                    "a subscriber failed on %s", event.kind, extra={"item_id": event.item_id}
                )

"""What listeners need from the running bot, handed in by `bot` (handlers never import bot)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from commands import EventBus
from storage.db import Database


@dataclass(frozen=True)
class HandlerDeps:
    db: Database
    now: Callable[[], datetime]
    # Commands publish their changes here; the composition decides who listens.
    events: EventBus = field(default_factory=EventBus)
    # Wakes the outbox worker after a listener queued a row no event announces (a Home).
    wake_outbox: Callable[[], None] = lambda: None

"""What listeners need from the running bot, handed in by `bot` (handlers never import bot)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from storage.db import Database


@dataclass(frozen=True)
class HandlerDeps:
    db: Database
    now: Callable[[], datetime]
    changed: Callable[[str], None]  # an item changed: wake the outbox worker and long-polls
    decided: Callable[[str, str], None] = lambda status, source: None  # for metrics

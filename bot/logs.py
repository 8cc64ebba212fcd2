"""Log set-up for every `hitl` command: readable text, or one JSON object a line.

Code that logs about an item passes `extra={"item_id": item_id}`; both formats show it,
so an operator can follow one item through submission, posting and decision.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LIBRARY_LOGGERS_KEPT_QUIET = ("alembic", "apscheduler", "slack_bolt", "slack_sdk", "httpx")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and item_id when given."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        item_id = getattr(record, "item_id", None)
        if item_id is not None:
            entry["item_id"] = str(item_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [item rv_…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        item_id = getattr(record, "item_id", None)
        return f"{line} [item {item_id}]" if item_id is not None else line


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Sends every log line to stderr in the chosen format; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries' own chatter stays out unless something is wrong, or DEBUG asks for it.
    for name in LIBRARY_LOGGERS_KEPT_QUIET:
        quiet = root.level > logging.DEBUG
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)

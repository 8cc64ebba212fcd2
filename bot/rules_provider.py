"""The current rules, reloaded when the file changes; a broken edit keeps the last good rules."""

import logging
import threading
from pathlib import Path

from rules import LoadedRules, RulesError, load_rules

log = logging.getLogger(__name__)


class RulesProvider:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = load_rules(path)  # a broken file at start stops the bot (RulesError)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime, stat.st_size

    def current(self) -> LoadedRules:
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return self._loaded
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._loaded = load_rules(self.path)
                    log.info("rules reloaded: version %s", self._loaded.version)
                except RulesError as error:
                    log.error(
                        "rules file changed but is invalid, keeping version %s:\n%s",
                        self._loaded.version,
                        error,
                    )
        return self._loaded

"""Statements and transactions per item (submit + Slack post), counted, not timed.

    .venv/bin/python -m benchmarks.statement_count --backend postgres --items 50
    .venv/bin/python -m benchmarks.statement_count --backend sqlite --home-viewer

On PostgreSQL each statement and each transaction boundary is a round trip of about a
millisecond of client CPU (psycopg, SQLAlchemy), so these counts, unlike rates, do not
depend on how busy the machine is. The bot runs in this process (`tests.harness`), one
agent submits one item at a time and waits for its post; every statement the engine runs
meanwhile is counted, by the thread that ran it (the HTTP request or the outbox worker).
`--home-viewer` first has a route owner open their App Home, so each submission also
queues a Home refresh.
"""

import argparse
import re
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from benchmarks.common import SlackStandIn, database
from tests.harness import RULES, BotHarness, make_settings

OWNER = "U0ALICE"  # an owner of the route of `invoice()` in the tests' rules


def _thread_kind() -> str:
    """The thread's name without its number: pool threads of one kind count together."""
    return re.sub(r"[-_ ]?\d+.*$", "", threading.current_thread().name) or "main"


def _in_transaction(conn: Any) -> bool:
    dbapi = conn.connection.dbapi_connection
    info = getattr(dbapi, "info", None)  # psycopg
    if info is not None and hasattr(info, "transaction_status"):
        return bool(info.transaction_status != 0)  # 0: IDLE
    return bool(getattr(dbapi, "in_transaction", True))  # sqlite3


class StatementCounter:
    """Counts statements (by first word) and commits, per kind of thread."""

    def __init__(self) -> None:
        self.statements: Counter[tuple[str, str]] = Counter()
        self.commits: Counter[str] = Counter()
        self.on = False
        self._lock = threading.Lock()

    def attach(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        self.rollbacks: Counter[str] = Counter()
        self.texts: list[tuple[str, str]] = []

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.on:
            with self._lock:
                self.statements[(_thread_kind(), statement.split(None, 1)[0].upper())] += 1
                self.texts.append((_thread_kind(), " ".join(statement.split())[:160]))

    def _rollback(self, conn: Any) -> None:
        # A lookup (no transaction) still "rolls back" when its session closes; the
        # driver sends nothing then, so it is not counted.
        if self.on and _in_transaction(conn):
            with self._lock:
                self.rollbacks[_thread_kind()] += 1

    def _commit(self, _conn: Any) -> None:
        if self.on:
            with self._lock:
                self.commits[_thread_kind()] += 1


def run(backend: str, items: int, home_viewer: bool, show: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        rules = Path(tmp) / "rules.yml"
        rules.write_text(RULES)
        standin = SlackStandIn().start()
        harness = BotHarness(make_settings(url, standin, rules), standin)
        counter = StatementCounter()
        counter.attach(harness.runtime.db.engine)
        try:
            harness.start()
            if home_viewer:
                from commands import queue

                queue.open_home(harness.runtime.db, OWNER, now=harness.runtime.now())
            harness.wait_posted(harness.submit(external_id="warm-up")["id"])
            counter.on = True
            for n in range(items):
                harness.wait_posted(harness.submit(external_id=f"count-{n}")["id"])
            counter.on = False
        finally:
            harness.stop()
            standin.stop()
    print(f"backend={backend} items={items} home_viewer={home_viewer}")
    if show:
        for kind, statement in counter.texts[: len(counter.texts) // items]:
            print(f"    {kind}: {statement}")
    round_trips = 0.0
    kinds = sorted({kind for kind, _word in counter.statements} | set(counter.commits))
    for kind in kinds:
        per_item = {
            word: count / items
            for (k, word), count in sorted(counter.statements.items())
            if k == kind
        }
        total = sum(per_item.values())
        shown = "  ".join(f"{word}={value:.2f}" for word, value in per_item.items())
        transactions = (counter.commits[kind] + counter.rollbacks[kind]) / items
        print(
            f"  {kind:24s} statements/item={total:5.2f} commits/item="
            f"{counter.commits[kind] / items:4.2f} rollbacks/item="
            f"{counter.rollbacks[kind] / items:4.2f}  {shown}"
        )
        # On PostgreSQL (psycopg 3) a transaction's BEGIN and its end are round trips too.
        round_trips += total + 2 * transactions
    if backend == "postgres":  # SQLite runs in the process: no round trips
        print(f"  round trips/item (statements + BEGIN and COMMIT/ROLLBACK): {round_trips:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--home-viewer", action="store_true")
    parser.add_argument("--show", action="store_true", help="print one item's statements")
    args = parser.parse_args()
    run(args.backend, args.items, args.home_viewer, args.show)

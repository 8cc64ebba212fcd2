"""What one hourly drift-alarm run costs over a large record: time, CPU and peak RSS.

    .venv/bin/python -m benchmarks.drift_scale --backend sqlite --sizes 100000,1000000
    .venv/bin/python -m benchmarks.drift_scale --backend postgres --keep /tmp/hitl-scale

For each size: the digest benchmark's history (that many decided items over the 8 weeks
before a fixed Monday, with metadata.model and metadata.prompt_version; `--keep` as
there), then `--repeat` runs of the job as the bot runs it every hour, each for a
following hour (an hour is run once), reading the last 28 days + 7 days of decisions.
Reported per run: wall and CPU seconds, the decisions read, the series tested, the alerts
it raised; and the process's peak RSS.
"""

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import delete
from sqlmodel import col

from benchmarks.digest_scale import HISTORY_RULES, MONDAY, TIMEZONE, history
from bot.drift_job import DriftJob
from bot.rules_provider import RulesProvider
from digest import drift
from storage import drift_queries
from storage.db import Database
from storage.models import DigestRun, DriftAlert, OutboxMessage


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _forget_runs(db: Database) -> None:
    with db.write() as session:
        session.execute(delete(OutboxMessage).where(col(OutboxMessage.kind) == "post_drift"))
        session.execute(delete(DriftAlert))
        session.execute(delete(DigestRun).where(col(DigestRun.job) == "drift"))


def run(backend: str, sizes: list[int], keep: Path | None, repeat: int) -> None:
    monday = datetime(MONDAY.year, MONDAY.month, MONDAY.day, tzinfo=TIMEZONE).astimezone(UTC)
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="drift-scale-") as tmp,
            history(backend, size, Path(tmp), keep) as (url, setup),
        ):
            rules = Path(tmp) / "rules.yml"
            rules.write_text(HISTORY_RULES)
            db = Database(url)
            try:
                for attempt in range(repeat):
                    # A new hour each time; minute 30 so the hour is never one run before.
                    now = monday + timedelta(hours=attempt, minutes=30 + attempt)
                    job = DriftJob(
                        db=db,
                        rules=RulesProvider(rules),
                        scheduler=BackgroundScheduler(),
                        now=_fixed(now),
                        queued=lambda: None,
                    )
                    since = now - timedelta(days=28, hours=168)
                    rows = drift_queries.hourly_decisions(db, since, now)
                    series = len(drift.series_of_counts(rows))
                    wall, cpu = time.perf_counter(), time.process_time()
                    raised = job.run()
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    print(
                        f"backend={backend} items={size:,} {setup} run={attempt + 1} "
                        f"wall={wall:.2f}s cpu={cpu:.2f}s series={series} "
                        f"alerts={'claimed elsewhere' if raised is None else len(raised)}",
                        flush=True,
                    )
            finally:
                _forget_runs(db)  # a kept history stays as it was, for the next run
                db.dispose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"backend={backend} items={size:,} peak_rss={peak:.0f}MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep", type=Path, help="keep generated histories here (see digest)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.backend, [int(size) for size in args.sizes.split(",")], args.keep, args.repeat)


if __name__ == "__main__":
    main()

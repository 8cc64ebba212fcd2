"""How `hitl digest` scales with the size of the review history.

    .venv/bin/python -m benchmarks.digest_scale --backend sqlite
    .venv/bin/python -m benchmarks.digest_scale --backend postgres --sizes 10000,100000

For each size: a fresh database holding that many decided items spread over the 8 weeks
before a fixed Monday (tests.history.bulk_decided_items), then one `hitl digest` for the
last of those weeks, run as its own process as a user would run it. Reported: the load
time (set-up, not the code under test), the digest's wall time, its CPU time (user +
system; on a busy machine the steadier figure) and its peak RSS.
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from benchmarks.common import database
from storage.db import Database
from storage.migrate import migrate
from tests.history import HISTORY_RULES, TIMEZONE, bulk_decided_items
from tests.processes import HITL

MONDAY = date(2026, 11, 23)  # fixed, so every run digests the same week of the same data
HISTORY = timedelta(weeks=8)
DIGEST_TIMEOUT = 30 * 60  # seconds; a digest slower than this is a result in itself


def load(url: str, count: int) -> float:
    """Fill the database and return how long it took, in seconds."""
    until = datetime(MONDAY.year, MONDAY.month, MONDAY.day, tzinfo=TIMEZONE).astimezone(UTC)
    db = Database(url)
    try:
        migrate(db)
        started = time.monotonic()
        bulk_decided_items(db, count=count, since=until - HISTORY, until=until)
        if db.is_postgres:
            # Autovacuum would analyze the new rows at some point; do it now so the digest
            # meets a database in its steady state, not one with no statistics.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        return time.monotonic() - started
    finally:
        db.dispose()


# Measures one command: spawns it, reaps it with wait4 and writes "exit seconds maxrss_kib".
# It runs in its own small interpreter because Linux counts the memory of the process that
# spawns a child into the child's ru_maxrss (fork/vfork share or copy its pages until exec):
# spawned from this process, fat with a loaded batch, the digest would inherit our peak.
_LAUNCHER = """
import os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.monotonic()
pid = os.posix_spawn(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.monotonic() - started
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as file:
    file.write(f"{code} {elapsed} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass(frozen=True)
class DigestRun:
    exit_code: int
    seconds: float
    peak_rss_kib: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu_seconds: float = 0.0  # user + system: what the digest costs, however busy the machine


def run_digest(url: str, workdir: Path) -> DigestRun:
    """Run `hitl digest` on the last week of the history, as a user would."""
    rules = workdir / "rules.yml"
    rules.write_text(HISTORY_RULES)
    # No SLACK_BOT_TOKEN: with one, `hitl digest` asks Slack for the workspace URL first
    # (auth.test), which would time the network, not the digest. Printed, never posted.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(
        HITL_DATABASE_URL=url,
        HITL_RULES=str(rules),
        HITL_LOG_LEVEL="WARNING",
    )
    command = [
        HITL,
        "digest",
        "--since",
        (MONDAY - timedelta(days=7)).isoformat(),
        "--until",
        MONDAY.isoformat(),
        "--format",
        "json",
    ]
    report = workdir / "digest.rusage"
    out_path, err_path = workdir / "digest.out", workdir / "digest.err"
    # Output goes to files, not pipes: nothing needs draining while the digest runs.
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(report), *command],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: a timeout kills the digest too
        )
        timed_out = False
        try:
            launcher.wait(DIGEST_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            timed_out = True
    stdout = out_path.read_text("utf-8", "replace")
    stderr = err_path.read_text("utf-8", "replace")
    if timed_out or not report.exists():  # killed, or the launcher itself failed
        return DigestRun(launcher.returncode or -1, DIGEST_TIMEOUT, 0, stdout, stderr, timed_out)
    code, seconds, rss, cpu = report.read_text().split()
    return DigestRun(int(code), float(seconds), int(rss), stdout, stderr, cpu_seconds=float(cpu))


def run(backend: str, sizes: list[int]) -> None:
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="digest-scale-") as tmp,
            database(backend, Path(tmp)) as url,
        ):
            print(f"backend={backend} items={size:,} loading...", file=sys.stderr, flush=True)
            load_seconds = load(url, size)
            digest = run_digest(url, Path(tmp))
            line = f"backend={backend} items={size:,} load={load_seconds:.1f}s"
            if digest.timed_out:
                print(f"{line} digest=failed(timed out after {DIGEST_TIMEOUT}s)", flush=True)
                continue
            if digest.exit_code != 0:
                print(
                    f"{line} digest=failed(exit {digest.exit_code} after {digest.seconds:.2f}s)",
                    flush=True,
                )
                print(_tail(digest.stderr or digest.stdout), file=sys.stderr, flush=True)
                continue
            try:
                json.loads(digest.stdout)
            except ValueError:
                print(f"{line} digest=failed(output is not JSON)", flush=True)
                print(_tail(digest.stdout), file=sys.stderr, flush=True)
                continue
            rss = digest.peak_rss_kib / 1024
            print(
                f"{line} digest={digest.seconds:.2f}s cpu={digest.cpu_seconds:.2f}s "
                f"peak_rss={rss:.1f}MiB",
                flush=True,
            )


def _tail(output: str, lines: int = 30) -> str:
    return "\n".join("    " + line for line in output.strip().splitlines()[-lines:])


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    run(args.backend, args.sizes)
    # The loader keeps one batch in memory at a time; this shows whether that still holds.
    loader_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"loader peak_rss={loader_rss:.1f}MiB", file=sys.stderr)


if __name__ == "__main__":
    main()

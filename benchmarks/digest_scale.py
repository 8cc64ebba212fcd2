"""How `hitl digest` scales with the size of the review history.

    .venv/bin/python -m benchmarks.digest_scale --backend sqlite
    .venv/bin/python -m benchmarks.digest_scale --backend postgres --sizes 10000,100000
    .venv/bin/python -m benchmarks.digest_scale --backend sqlite --keep /tmp/digest-scale

For each size: a database holding that many decided items spread over the 8 weeks before
a fixed Monday (tests.history.bulk_decided_items), then one `hitl digest` for the last of
those weeks, run as its own process as a user would run it. Reported: the load time
(set-up, not the code under test), the digest's wall time, its CPU time (user + system; on
a busy machine the steadier figure), its peak RSS, the machine's load average, and a hash
of the digest (its JSON without `generated_at`), so that two versions of the code can be
shown to print the same digest of the same history.

`--keep DIR` keeps each generated history for the next run, which then only migrates it
(1,000,000 items take minutes to generate): SQLite files in DIR, PostgreSQL databases named
hitl_bench_digest_<size> (dropped with `--drop-kept`). `--save DIR` writes each digest's
JSON there.
"""

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from benchmarks.common import PG_ADMIN, cpu_seconds, database
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
    load: tuple[float, float] = (0.0, 0.0)  # the 1-minute load average before and after
    server_cpu_seconds: float | None = None  # PostgreSQL's backends, see ServerCpu


class ServerCpu:
    """CPU time that PostgreSQL's backends (parallel workers included) spend serving the
    connections named `application`, read from /proc while they run: the work of a
    digest on PostgreSQL is mostly there, not in the digest's process. Sampled every few
    milliseconds, so the last few milliseconds of each backend may be missed; None when
    the server is not on this machine (no backend found in /proc)."""

    def __init__(self, url: str, application: str) -> None:
        self.application = application
        self._engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "ServerCpu":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()

    @property
    def seconds(self) -> float | None:
        return sum(self._seen.values()) if self._seen else None

    def _sample(self) -> None:
        query = text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name OR leader_pid IN"
            " (SELECT pid FROM pg_stat_activity WHERE application_name = :name)"
        )
        with self._engine.connect() as conn:
            while not self._stop.wait(0.005):
                for pid in conn.execute(query, {"name": self.application}).scalars():
                    # OSError: gone since the query, or a server on another machine.
                    with suppress(OSError):
                        self._seen[pid] = max(self._seen.get(pid, 0.0), cpu_seconds(pid))


def run_digest(url: str, workdir: Path) -> DigestRun:
    """Run `hitl digest` on the last week of the history, as a user would."""
    rules = workdir / "rules.yml"
    rules.write_text(HISTORY_RULES)
    # No SLACK_BOT_TOKEN: with one, `hitl digest` asks Slack for the workspace URL first
    # (auth.test), which would time the network, not the digest. Printed, never posted.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    application = f"hitl-digest-bench-{uuid.uuid4().hex[:8]}"
    env.update(
        HITL_DATABASE_URL=url,
        HITL_RULES=str(rules),
        HITL_LOG_LEVEL="WARNING",
        PGAPPNAME=application,  # libpq's default application_name: finds its backends
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
    load_before = os.getloadavg()[0]
    report = workdir / "digest.rusage"
    report.unlink(missing_ok=True)  # left by an earlier run of the same history
    out_path, err_path = workdir / "digest.out", workdir / "digest.err"
    # Output goes to files, not pipes: nothing needs draining while the digest runs.
    server = ServerCpu(url, application) if url.startswith("postgresql") else nullcontext()
    with open(out_path, "wb") as out, open(err_path, "wb") as err, server:
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
    return DigestRun(
        int(code),
        float(seconds),
        int(rss),
        stdout,
        stderr,
        cpu_seconds=float(cpu),
        load=(load_before, os.getloadavg()[0]),
        server_cpu_seconds=server.seconds if isinstance(server, ServerCpu) else None,
    )


KEPT_PREFIX = "hitl_bench_digest_"


@contextmanager
def history(backend: str, size: int, workdir: Path, keep: Path | None) -> Iterator[tuple[str, str]]:
    """Yields (database URL, what setting it up took) for a history of `size` items: a
    kept one when there is one, otherwise a new one, kept for the next run if asked."""
    if keep is None:
        with database(backend, workdir) as url:
            print(f"backend={backend} items={size:,} loading...", file=sys.stderr, flush=True)
            yield url, f"load={load(url, size):.1f}s"
        return
    keep.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = keep / f"digest-scale-{size}.db"
        if not path.exists():
            # Generated under another name and renamed once complete: an interrupted load
            # is never mistaken for a history.
            partial = keep / f"digest-scale-{size}.{uuid.uuid4().hex[:8]}.partial"
            print(f"backend={backend} items={size:,} loading...", file=sys.stderr, flush=True)
            seconds = load(f"sqlite:///{partial}", size)
            partial.rename(path)
            yield f"sqlite:///{path}", f"load={seconds:.1f}s(kept)"
            return
        url = f"sqlite:///{path}"
        yield url, f"migrate={_migrate(url):.1f}s(reused)"
        return
    name = f"{KEPT_PREFIX}{size}"
    base = PG_ADMIN.rsplit("/", 1)[0]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists:
                setup = f"migrate={_migrate(f'{base}/{name}'):.1f}s(reused)"
            else:
                pending = f"{name}_partial_{uuid.uuid4().hex[:8]}"
                conn.execute(text(f'CREATE DATABASE "{pending}"'))
                print(f"backend={backend} items={size:,} loading...", file=sys.stderr, flush=True)
                try:
                    seconds = load(f"{base}/{pending}", size)
                    conn.execute(text(f'ALTER DATABASE "{pending}" RENAME TO "{name}"'))
                except BaseException:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{pending}" WITH (FORCE)'))
                    raise
                setup = f"load={seconds:.1f}s(kept)"
    finally:
        admin.dispose()
    yield f"{base}/{name}", setup


def drop_kept(keep: Path | None) -> None:
    """Drops the kept PostgreSQL histories (and SQLite files in `keep`, when given)."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"),
                {"prefix": KEPT_PREFIX + "%"},
            ).scalars()
            for name in list(names):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                print(f"dropped database {name}", file=sys.stderr)
    finally:
        admin.dispose()
    for path in keep.glob("digest-scale-*") if keep else ():
        path.unlink()
        print(f"removed {path}", file=sys.stderr)


def _migrate(url: str) -> float:
    started = time.monotonic()
    db = Database(url)
    try:
        migrate(db)
    finally:
        db.dispose()
    return time.monotonic() - started


def fingerprint(output: str) -> str:
    """A hash of the digest without its generation time: equal for equal digests."""
    digest = json.loads(output)
    digest.pop("generated_at", None)
    canonical = json.dumps(digest, indent=2, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()[:16]


def run(
    backend: str, sizes: list[int], keep: Path | None, save: Path | None, repeat: int = 1
) -> None:
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="digest-scale-") as tmp,
            history(backend, size, Path(tmp), keep) as (url, setup),
        ):
            for attempt in range(1, repeat + 1):
                line = f"backend={backend} items={size:,} {setup}"
                if repeat > 1:
                    line += f" run={attempt}/{repeat}"
                print_run(line, run_digest(url, Path(tmp)), backend, size, save)


def print_run(line: str, digest: DigestRun, backend: str, size: int, save: Path | None) -> None:
    if digest.timed_out:
        print(f"{line} digest=failed(timed out after {DIGEST_TIMEOUT}s)", flush=True)
        return
    if digest.exit_code != 0:
        print(
            f"{line} digest=failed(exit {digest.exit_code} after {digest.seconds:.2f}s)",
            flush=True,
        )
        print(_tail(digest.stderr or digest.stdout), file=sys.stderr, flush=True)
        return
    try:
        hashed = fingerprint(digest.stdout)
    except ValueError:
        print(f"{line} digest=failed(output is not JSON)", flush=True)
        print(_tail(digest.stdout), file=sys.stderr, flush=True)
        return
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        (save / f"digest-{backend}-{size}.json").write_text(digest.stdout)
    rss = digest.peak_rss_kib / 1024
    server = digest.server_cpu_seconds
    server_cpu = f"server_cpu={server:.2f}s " if server is not None else ""
    print(
        f"{line} digest={digest.seconds:.2f}s cpu={digest.cpu_seconds:.2f}s {server_cpu}"
        f"peak_rss={rss:.1f}MiB load1={digest.load[0]:.2f}->{digest.load[1]:.2f} "
        f"sha={hashed}",
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
    parser.add_argument("--backend", choices=("sqlite", "postgres"))
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="keep and reuse generated histories here")
    parser.add_argument("--save", type=Path, help="write each digest's JSON here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="digests per history (a busy machine varies)"
    )
    parser.add_argument(
        "--drop-kept", action="store_true", help="drop the kept histories, then exit"
    )
    args = parser.parse_args()
    if args.drop_kept:
        drop_kept(args.keep)
        return
    if args.backend is None:
        parser.error("--backend is required")
    run(args.backend, args.sizes, args.keep, args.save, args.repeat)
    # The loader keeps one batch in memory at a time; this shows whether that still holds.
    loader_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"loader peak_rss={loader_rss:.1f}MiB", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Shared set-up for benchmarks: a database per backend, the Slack stand-in, `hitl serve`."""

import http.client
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import RULES  # noqa: E402
from tests.processes import free_port, serve_env, start_serve, stop_serve  # noqa: E402
from tests.slack_standin import SlackStandIn  # noqa: E402

PG_ADMIN = os.environ.get(
    "HITL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"hitl_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def serve(
    database_url: str, standin: SlackStandIn, workdir: Path, **env_extra: str
) -> Iterator[str]:
    """Runs `hitl serve` as its own process and yields its base URL."""
    with serve_process(database_url, standin, workdir, **env_extra) as (base, _process):
        yield base


@contextmanager
def serve_process(
    database_url: str, standin: SlackStandIn, workdir: Path, **env_extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `serve`, and also yields the process (for its pid: CPU time, a profiler).

    A `rules.yml` already in `workdir` is used as it is; otherwise the tests' rules."""
    rules = workdir / "rules.yml"
    if not rules.exists():
        rules.write_text(RULES)
    env = serve_env(database_url, standin, rules, free_port()) | {"HITL_LOG_LEVEL": "WARNING"}
    process = start_serve(env | env_extra, workdir)
    try:
        yield f"http://127.0.0.1:{env['HITL_PORT']}", process
    finally:
        stop_serve(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" that closes the command name, utime and stime are the 12th and 13th.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core, from
    /proc/stat (Linux); busy is all but idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    idle = fields[3] + fields[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LoadRun:
    """What `drive` saw: one latency per answered request, and the failures by status."""

    latencies_ms: list[float]
    failures: Counter[str]
    wall_seconds: float

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else 0.0


def drive(
    base: str,
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    max_seconds: float | None = None,
) -> LoadRun:
    """POSTs every body with `concurrency` agents, each on its own keep-alive connection;
    after `max_seconds` the agents send nothing new (a server that has collapsed).

    Plain http.client in threads: the load generator shares the machine with the server
    under test, so it should spend as little CPU per request as it can."""
    host, port = base.removeprefix("http://").split(":")
    queue = list(reversed(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    stop_at = time.perf_counter() + max_seconds if max_seconds is not None else float("inf")

    def agent() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                if not queue or time.perf_counter() > stop_at:
                    break
                body = queue.pop()
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
            elapsed_ms = (time.perf_counter() - started) * 1000
            with lock:
                if status in ("200", "201"):
                    latencies.append(elapsed_ms)
                else:
                    failures[status] += 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=agent) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadRun(latencies, failures, time.perf_counter() - started)


# Frames in these folders are hitl's own; the rest are grouped by their top-level package.
PROJECT_PACKAGES = ("bot", "commands", "digest", "handlers", "rules", "storage")


def profile_summary(raw_path: Path, items: int, rate_hz: int, top: int = 25) -> str:
    """Reads py-spy's `--format raw` output (one `thread;frame;...;frame count` a line) and
    tells, in ms per item, each thread's share and the costliest functions (inclusive)."""
    per_sample_ms = 1000 / rate_hz
    threads: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        total += count
        threads[thread.split(": ", 1)[-1].rstrip("-0123456789_") or "main"] += count
        seen_functions: set[str] = set()
        seen_packages: set[str] = set()
        for frame in frames:  # "function (/full/path/to/file.py:line)", --full-filenames
            function, _, where = frame.partition(" (")
            path = where.rsplit(":", 1)[0]
            if "site-packages/" in path:
                package = path.split("site-packages/")[1].split("/")[0]
            elif "/lib/python3" in path or path.startswith("<"):
                package = "(standard library, generated code)"
            else:
                parts = Path(path).parts
                starts = [n for n, part in enumerate(parts) if part in PROJECT_PACKAGES]
                file = "/".join(parts[starts[0] :]) if starts else path
                package = f"hitl: {file.split('/')[0]}/"
                if file + function not in seen_functions:
                    functions[f"{function} ({file})"] += count
                    seen_functions.add(file + function)
            if package not in seen_packages:
                packages[package] += count
                seen_packages.add(package)

    def ms(count: int) -> str:
        return f"{count * per_sample_ms / items:6.2f}"

    lines = [f"{ms(total)} ms/item sampled in all ({total} samples at {rate_hz} Hz)"]
    lines += [f"  {ms(n)}  thread {name}" for name, n in threads.most_common(8)]
    lines += ["by package (inclusive):"]
    lines += [f"  {ms(n)}  {name}" for name, n in packages.most_common(12)]
    lines += ["hitl's functions (inclusive):"]
    lines += [f"  {ms(n)}  {name}" for name, n in functions.most_common(top)]
    return "\n".join(lines)

"""hitl beside awaithumans, the closest self-hosted peer: rate, p50, p99 and CPU per item.

    .venv/bin/python -m benchmarks.peer_comparison                     # both backends
    .venv/bin/python -m benchmarks.peer_comparison --backend sqlite --items 300
    .venv/bin/python -m benchmarks.peer_comparison --peer-venv /tmp/ah  # reuse a peer install
    .venv/bin/python -m benchmarks.peer_comparison --profile /tmp/prof  # hitl under py-spy

Both servers run as their own processes on this machine, each against its own Slack Web
API stand-in (tests/standin), and are measured in one run, interleaved: at each of 1, 16
and 64 concurrent agents hitl and the peer take turns (the order alternates), the agents
sending `--items` submissions in all over keep-alive connections (a phase stops sending
after `--max-seconds`: the peer collapses under concurrency). Printed per system:
submissions/s, p50 and p99 latency of a submission, the rate ratio hitl/peer, and the
server process's CPU seconds per item from /proc/PID/stat, counted until every item of
the phase is posted to the stand-in (submit + post), and, while the agents send, the
server's CPU as a share of one core (hitl serves and delivers in one Python process, so
near 100 % it is the process, not the database, that sets the rate) and the whole
machine's busy share. Then the outbox drain (see
benchmarks/outbox_drain.py) and every figure beside its target from issue 9.

awaithumans is installed with pip into its own virtualenv in the temporary folder (unless
`--peer-venv` names one) and started with `awaithumans serve`. It has no setting for
Slack's API address, so its launcher sets the `base_url` of slack_sdk's AsyncWebClient to
its stand-in; its notifications are ON and post to that stand-in. Both log at WARNING.
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.common import (
    LoadRun,
    SlackStandIn,
    cpu_seconds,
    database,
    drive,
    free_port,
    machine_busy_seconds,
    percentile,
    profile_summary,
    serve_process,
)
from benchmarks.outbox_drain import DRAIN_TARGET, DrainResult, run_drain
from tests.harness import AGENT_TOKEN

CONCURRENCY = (1, 16, 64)
RATE_RATIO_TARGET = 2.0  # hitl's rate at least twice the peer's, at every concurrency
CPU_MS_TARGET = 10.0  # server CPU per item, submit + post
PEER_TOKEN = "bench-admin-token-" + "x" * 16
PEER_CHANNEL = "C0PEERBENCH"
OUTPUT = "Booked to account 6300, cost centre 41, due 2026-12-01."

# Runs inside the peer's virtualenv: points slack_sdk's async client at the stand-in (the
# peer has no setting for it), then hands over to the peer's own `serve` command.
PEER_LAUNCHER = textwrap.dedent(
    """\
    import os, sys
    import slack_sdk.web.async_client as async_client
    _init = async_client.AsyncWebClient.__init__
    def _init_with_standin(self, *args, **kwargs):
        kwargs.setdefault("base_url", os.environ["BENCH_SLACK_API_URL"])
        _init(self, *args, **kwargs)
    async_client.AsyncWebClient.__init__ = _init_with_standin
    # The peer migrates through plain `postgresql://`, which SQLAlchemy 2.1 maps to
    # psycopg 3; the peer ships psycopg2.
    from sqlalchemy.dialects import registry
    registry.register("postgresql", "sqlalchemy.dialects.postgresql.psycopg2", "PGDialect_psycopg2")
    from awaithumans.cli.main import app
    sys.argv = ["awaithumans", "serve", "--host", "127.0.0.1", "--port", sys.argv[1],
                "--log-level", "warning"]
    app()
    """
)


@dataclass
class System:
    """One server under test: where to send, what to send, where its posts land."""

    name: str
    base: str
    pid: int
    path: str
    headers: dict[str, str]
    body: Callable[[str], bytes]
    standin: SlackStandIn


@dataclass
class Phase:
    system: str
    concurrency: int
    run: LoadRun
    cpu_ms_per_item: float
    posted: int
    # While the agents were sending: the server's CPU as a share of one core (a Python
    # process runs Python on one core at a time, so near 100 % it is saturated), and the
    # whole machine's busy share (every process on every core).
    server_core_share: float
    machine_busy_share: float


def hitl_body(key: str) -> bytes:
    return json.dumps(
        {
            "workflow": "ap-invoices",
            "title": f"Invoice {key} from ACME, 12,400 EUR",
            "output": OUTPUT,
            "confidence": 0.62,
            "context": {"vendor": "ACME GmbH", "amount": "12,400 EUR"},
            "external_id": key,
        }
    ).encode()


def peer_body(key: str) -> bytes:
    return json.dumps(
        {
            "task": f"Invoice {key} from ACME, 12,400 EUR",
            "payload": {"output": OUTPUT, "confidence": 0.62, "vendor": "ACME GmbH"},
            "payload_schema": {"type": "object"},
            "response_schema": {"type": "object"},
            "timeout_seconds": 86400,
            "idempotency_key": key,
            "notify": [f"slack:{PEER_CHANNEL}"],
        }
    ).encode()


def install_peer(venv: Path, spec: str) -> Path:
    """A virtualenv with the peer in it; returns its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing {spec} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # The peer ships psycopg2 for `postgresql://`, which SQLAlchemy 2.1 maps to psycopg 3.
        quiet = ["-q", "--disable-pip-version-check"]
        install = subprocess.run(
            [str(python), "-m", "pip", "install", *quiet, spec, "sqlalchemy<2.1"],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:  # pip's warnings are noise; its errors are not
            raise SystemExit(f"pip could not install {spec}:\n{install.stderr[-3000:]}")
    return python


def peer_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('awaithumans'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


@contextmanager
def run_peer(
    python: Path, database_url: str, standin: SlackStandIn, workdir: Path
) -> Iterator[tuple[str, int]]:
    """`awaithumans serve` on a free port; yields its base URL and pid."""
    workdir.mkdir(exist_ok=True)
    (workdir / "launch_peer.py").write_text(PEER_LAUNCHER)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWAITHUMANS_", "HITL_"))}
    env |= {
        "AWAITHUMANS_PAYLOAD_KEY": secrets.token_urlsafe(32),
        "AWAITHUMANS_ADMIN_API_TOKEN": PEER_TOKEN,
        "AWAITHUMANS_SLACK_BOT_TOKEN": standin.bot_token,
        "AWAITHUMANS_LOG_LEVEL": "WARNING",
        "AWAITHUMANS_ALLOW_EPHEMERAL_DB": "true",
        "BENCH_SLACK_API_URL": standin.url,
    }
    if database_url.startswith("sqlite"):
        env["AWAITHUMANS_DB_PATH"] = str(workdir / "peer.db")
    else:  # the peer takes a plain postgresql:// URL and picks its drivers itself
        env["AWAITHUMANS_DATABASE_URL"] = "postgresql://" + database_url.split("://", 1)[1]
    with (workdir / "peer.log").open("ab") as log:
        process = subprocess.Popen(
            [str(python), "launch_peer.py", str(port)],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "peer.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        # Why its requests failed, in its own words (the most frequent error it logged).
        lines = (workdir / "peer.log").read_text(errors="replace").splitlines()
        errors = Counter(
            line.lstrip(" |")[:200]  # the same error, inside an exception group or not
            for line in lines
            if line.lstrip(" |").startswith(("sqlalchemy.exc.", "asyncpg.", "sqlite3."))
        )
        for line, count in errors.most_common(1):
            print(f"  awaithumans logged {count}x: {line}")


def posts(standin: SlackStandIn) -> int:
    return len(standin.calls_to("chat.postMessage"))


def measure(
    system: System, concurrency: int, items: int, tag: str, max_seconds: float = 60
) -> Phase:
    """Sends `items` new submissions (for at most `max_seconds`), waits until each answered
    one is posted, and counts the server's CPU meanwhile."""
    bodies = [system.body(f"{tag}-{n}") for n in range(items)]
    posted_before = posts(system.standin)
    cpu_before = cpu_seconds(system.pid)
    machine_before = machine_busy_seconds()
    run = drive(system.base, system.path, system.headers, bodies, concurrency, max_seconds)
    machine_after = machine_busy_seconds()
    sending_cpu = cpu_seconds(system.pid) - cpu_before
    expected = posted_before + len(run.latencies_ms)
    # Wait for every post, giving up once none has arrived for 15 s (a server that lost some).
    seen, last_progress = posts(system.standin), time.monotonic()
    while seen < expected and time.monotonic() - last_progress < 15:
        time.sleep(0.05)
        if (now_seen := posts(system.standin)) > seen:
            seen, last_progress = now_seen, time.monotonic()
    cpu_used = cpu_seconds(system.pid) - cpu_before
    answered = max(1, len(run.latencies_ms))
    return Phase(
        system.name,
        concurrency,
        run,
        cpu_used * 1000 / answered,
        posts(system.standin) - posted_before,
        server_core_share=sending_cpu / run.wall_seconds if run.wall_seconds else 0.0,
        machine_busy_share=_share(machine_before, machine_after),
    )


def _share(before: tuple[float, float], after: tuple[float, float]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return busy / total if total else 0.0


def run_backend(
    backend: str, items: int, peer_python: Path, rounds: int, max_seconds: float
) -> list[Phase]:
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        hitl_standin = stack.enter_context(SlackStandIn())
        peer_standin = stack.enter_context(SlackStandIn())
        hitl_url = stack.enter_context(database(backend, workdir))
        peer_url = stack.enter_context(database(backend, workdir / "peer"))
        # Production pacing: the worker is woken by each submission, not by a fast poll.
        hitl_base, hitl_process = stack.enter_context(
            serve_process(
                hitl_url,
                hitl_standin,
                workdir,
                HITL_OUTBOX_POLL_SECONDS="1",
                HITL_OUTBOX_LEASE_SECONDS="60",
            )
        )
        peer_base, peer_pid = stack.enter_context(
            run_peer(peer_python, peer_url, peer_standin, workdir / "peer")
        )
        systems = [
            System(
                "hitl",
                hitl_base,
                hitl_process.pid,
                "/v1/reviews",
                {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"},
                hitl_body,
                hitl_standin,
            ),
            System(
                "awaithumans",
                peer_base,
                peer_pid,
                "/api/tasks",
                {"Authorization": f"Bearer {PEER_TOKEN}", "Content-Type": "application/json"},
                peer_body,
                peer_standin,
            ),
        ]
        for system in systems:  # first requests pay for imports and connection pools
            measure(system, 4, 40, "warmup")
        for round_number in range(rounds):
            for index, concurrency in enumerate(CONCURRENCY):
                order = systems if (index + round_number) % 2 == 0 else systems[::-1]
                for system in order:
                    tag = f"r{round_number}-c{concurrency}"
                    phase = measure(system, concurrency, items, tag, max_seconds)
                    print_phase(backend, phase, items, flush=True)
                    phases.append(phase)
    return phases


def print_phase(backend: str, phase: Phase, items: int, flush: bool = False) -> None:
    run = phase.run
    failures = ", ".join(f"{k}x{v}" for k, v in sorted(run.failures.items())) or "none"
    p50 = percentile(run.latencies_ms, 0.5) if run.latencies_ms else float("nan")
    p99 = percentile(run.latencies_ms, 0.99) if run.latencies_ms else float("nan")
    print(
        f"  {backend:8} agents={phase.concurrency:<3} {phase.system:12} "
        f"{run.rate:7.1f} items/s  p50={p50:7.1f} ms  p99={p99:7.1f} ms  "
        f"cpu={phase.cpu_ms_per_item:5.1f} ms/item  "
        f"server={phase.server_core_share:4.0%} of a core  "
        f"machine={phase.machine_busy_share:4.0%} busy  "
        f"posted={phase.posted}/{len(run.latencies_ms)} answered of {items}  "
        f"failed={failures}",
        flush=flush,
    )


def profile_hitl(backend: str, items: int, out: Path) -> None:
    """One agent submitting `items` items to `hitl serve` under py-spy (threads holding the
    GIL only, so a sample is CPU spent in Python), each item waited for until posted."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit(f"--profile needs py-spy: {sys.executable} -m pip install py-spy")
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"}
    rate_hz = 200
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        standin = stack.enter_context(SlackStandIn())
        url = stack.enter_context(database(backend, workdir))
        base, process = stack.enter_context(
            serve_process(
                url, standin, workdir, HITL_OUTBOX_POLL_SECONDS="1", HITL_OUTBOX_LEASE_SECONDS="60"
            )
        )
        system = System("hitl", base, process.pid, "/v1/reviews", headers, hitl_body, standin)
        measure(system, 1, 50, "warmup")
        options = f"--gil --threads --full-filenames --format raw --rate {rate_hz}".split()
        command = [str(py_spy), "record", "--pid", str(process.pid), *options, "-o", str(out)]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)  # py-spy attaches
        phase = measure(system, 1, items, "profiled", max_seconds=600)
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    print(f"{backend}: one agent, {items} items under py-spy:", end=" ")
    print(f"{phase.run.rate:.1f} items/s, server CPU {phase.cpu_ms_per_item:.1f} ms/item (/proc)")
    print(profile_summary(out, items, rate_hz))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summarize(results: dict[str, list[Phase]], drains: dict[str, DrainResult]) -> None:
    print("\nFigures beside the targets of issue 9 (point 5):")
    for backend, phases in results.items():
        for concurrency in CONCURRENCY:
            mine = [p for p in phases if p.concurrency == concurrency]
            hitl_rate = _mean([p.run.rate for p in mine if p.system == "hitl"])
            peer_rate = _mean([p.run.rate for p in mine if p.system == "awaithumans"])
            ratio = hitl_rate / peer_rate if peer_rate else float("inf")
            core = _mean([p.server_core_share for p in mine if p.system == "hitl"])
            print(
                f"  {backend:8} agents={concurrency:<3} rate hitl/peer = "
                f"{hitl_rate:6.1f}/{peer_rate:6.1f} = {ratio:4.2f}x   "
                f"target >= {RATE_RATIO_TARGET:.1f}x: {verdict(ratio >= RATE_RATIO_TARGET)}"
                f"   (hitl's process at {core:.0%} of a core)"
            )
        for system in ("hitl", "awaithumans"):
            cpu = [p.cpu_ms_per_item for p in phases if p.system == system]
            line = (
                f"  {backend:8} {system:12} server CPU per item (submit + post): "
                f"{', '.join(f'{c:.1f}' for c in cpu)} ms at {'/'.join(map(str, CONCURRENCY))}"
                " agents"
            )
            if system == "hitl":
                line += f"   target < {CPU_MS_TARGET:.0f} ms: {verdict(max(cpu) < CPU_MS_TARGET)}"
            print(line)
    for backend, drain in drains.items():
        print(
            f"  {backend:8} outbox drain: {drain.calls_per_second:6.1f} Slack calls/s "
            f"({drain.posts} posts, {drain.channels} channels, {drain.seconds:.1f} s)   "
            f"target >= {DRAIN_TARGET:.0f}/s: {verdict(drain.calls_per_second >= DRAIN_TARGET)}"
        )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--items", type=int, default=400, help="submissions per phase")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds per backend")
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="stop sending in a phase after this"
    )
    parser.add_argument("--peer-venv", type=Path, help="reuse (or create) the peer's venv here")
    parser.add_argument("--peer-spec", default="awaithumans[server]", help="what pip installs")
    parser.add_argument("--drain-posts", type=int, default=2000)
    parser.add_argument("--no-drain", action="store_true", help="skip the outbox drain")
    parser.add_argument(
        "--profile", type=Path, help="only profile hitl (py-spy), raw stacks to this folder"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        for backend in backends:
            profile_hitl(backend, args.items, args.profile / f"hitl-{backend}.txt")
        return
    with tempfile.TemporaryDirectory(prefix="peer-venv-") as tmp:
        peer_python = install_peer(args.peer_venv or Path(tmp) / "venv", args.peer_spec)
        print(
            f"hitl vs awaithumans {peer_version(peer_python)}, {args.items} submissions per "
            f"phase, {os.cpu_count()} cores. awaithumans' Slack notifications: ON, posted to "
            "a local stand-in (launcher sets slack_sdk's base_url); hitl posts to the same "
            "kind of stand-in.",
            flush=True,
        )
        results: dict[str, list[Phase]] = {}
        for backend in backends:
            results[backend] = run_backend(
                backend, args.items, peer_python, args.rounds, args.max_seconds
            )
    drains: dict[str, DrainResult] = {}
    if not args.no_drain:
        for backend in backends:
            drains[backend] = run_drain(backend, args.drain_posts)
    summarize(results, drains)


if __name__ == "__main__":
    main()

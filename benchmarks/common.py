"""Shared set-up for benchmarks: a database per backend, the Slack stand-in, `hitl serve`."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import AGENT_TOKEN, RULES, SIGNING_SECRET  # noqa: E402
from tests.slack_standin import SlackStandIn  # noqa: E402

PG_ADMIN = os.environ.get(
    "HITL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
HITL = str(Path(sys.executable).parent / "hitl")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    database_url: str, standin: SlackStandIn, workdir: Path, **env_extra: str
) -> Iterator[str]:
    """Runs `hitl serve` as its own process and yields its base URL."""
    rules = workdir / "rules.yml"
    if not rules.exists():
        rules.write_text(RULES)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(
        SLACK_BOT_TOKEN=standin.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.url,
        HITL_DATABASE_URL=database_url,
        HITL_RULES=str(rules),
        HITL_PORT=str(port),
        HITL_API_TOKENS=f"invoice-bot:{AGENT_TOKEN}",
        HITL_LOG_LEVEL="WARNING",
        **env_extra,
    )
    process = subprocess.Popen([HITL, "serve"], env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("hitl serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]

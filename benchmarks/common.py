"""Shared set-up for benchmarks: a database per backend, the Slack stand-in, `hitl serve`."""

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
    rules = workdir / "rules.yml"
    if not rules.exists():
        rules.write_text(RULES)
    env = serve_env(database_url, standin, rules, free_port()) | {"HITL_LOG_LEVEL": "WARNING"}
    process = start_serve(env | env_extra, workdir)
    try:
        yield f"http://127.0.0.1:{env['HITL_PORT']}"
    finally:
        stop_serve(process)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]

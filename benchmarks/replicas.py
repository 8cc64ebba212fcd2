"""Escalation steps falling due at once on several `hitl serve` replicas: how fast they fire,
and that each fires exactly once.

    .venv/bin/python -m benchmarks.replicas
    .venv/bin/python -m benchmarks.replicas --steps 2000 --replicas 2 --backend postgres

`--steps` items are submitted across the replicas (8 agents), each with a first escalation
step an hour away; then every step is made due at the same instant and the replicas' sweeps
(`HITL_SWEEP_SECONDS=0.5`) fire them. Printed: submissions/s, steps fired/s from that instant
to the last escalation post, and how many steps fired other than once (must be 0). The test
suite keeps a small version of this check (tests/test_replicas.py, 50 steps).
"""

import argparse
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import col

from benchmarks.common import SlackStandIn, database, serve
from storage.db import Database
from storage.models import EscalationStepRow, StepStatus
from tests.chains import HOURLY_CHAIN_RULES
from tests.harness import AGENT_TOKEN, invoice

AGENTS = 8


def escalations_per_item(standin: SlackStandIn) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in standin.calls_to("chat.postMessage"):
        metadata = call.args.get("metadata") or {}
        if metadata.get("event_type") == "hitl_escalation":
            item_id = metadata["event_payload"]["item_id"]
            counts[item_id] = counts.get(item_id, 0) + 1
    return counts


def submit_all(bases: list[str], steps: int) -> list[str]:
    """Submits `steps` chain items with AGENTS threads, spread over the replicas."""
    ids: list[str] = []
    lock = threading.Lock()
    share = -(-steps // AGENTS)

    def agent(number: int) -> None:
        api = f"{bases[number % len(bases)]}/v1/reviews"
        with httpx.Client(headers={"Authorization": f"Bearer {AGENT_TOKEN}"}, timeout=60) as client:
            for n in range(number * share, min(steps, (number + 1) * share)):
                body = invoice(workflow="chain", external_id=f"r{n}")
                item_id = client.post(api, json=body).json()["id"]
                with lock:
                    ids.append(item_id)

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(AGENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def run(backend: str, steps: int, replicas: int, timeout: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(backend, Path(tmp)) as url,
        SlackStandIn() as standin,
        ExitStack() as running,
    ):
        (Path(tmp) / "rules.yml").write_text(HOURLY_CHAIN_RULES)
        bases = [
            running.enter_context(serve(url, standin, Path(tmp), HITL_SWEEP_SECONDS="0.5"))
            for _ in range(replicas)
        ]
        # time.monotonic throughout: the stand-in stamps each call with it.
        started = time.monotonic()
        ids = submit_all(bases, steps)
        submitted = time.monotonic()
        print(
            f"submitted {len(set(ids))} items in {submitted - started:.1f} s "
            f"({len(ids) / (submitted - started):.0f}/s)"
        )
        # Every first step falls due at the same instant.
        db = Database(url)
        with db.write() as session:
            session.execute(
                update(EscalationStepRow)
                .where(col(EscalationStepRow.status) == StepStatus.PENDING)
                .values(due_at=datetime.now(UTC))
            )
        db.dispose()
        due = time.monotonic()
        deadline = due + timeout
        while len(escalations_per_item(standin)) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.5)  # a slow poll: the replicas need the CPU more than this loop
        last_post = max((call.at for call in standin.calls_to("chat.postMessage")), default=due)
        fired_seconds = last_post - due
        time.sleep(2)  # a doubled step would show up now
        counts = escalations_per_item(standin)
        doubled = sum(1 for n in counts.values() if n > 1)
        missing = len(set(ids) - set(counts))
        rate = len(counts) / fired_seconds if fired_seconds else float("nan")
        print(f"fired {len(counts)} of {len(ids)} steps in {fired_seconds:.1f} s ({rate:.0f}/s)")
        print(f"fired more than once: {doubled}; never fired: {missing} (both must be 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for all")
    args = parser.parse_args()
    print(f"backend={args.backend} replicas={args.replicas} steps={args.steps}")
    run(args.backend, args.steps, args.replicas, args.timeout)


if __name__ == "__main__":
    main()

"""Escalations across restarts and replicas: each step fires exactly once."""

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from storage.db import Database
from storage.models import EscalationStepRow, StepStatus
from tests.harness import AGENT_TOKEN, invoice
from tests.processes import free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn

RULES = """\
routes:
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 2s, to: [U0MANAGER], channel: C0ESC}
      - {after: 1h, to: [U0DIRECTOR], channel: C0ESC}
"""
SLOW_RULES = RULES.replace("after: 2s", "after: 1h")


def _escalations_per_item(standin: SlackStandIn) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in standin.calls_to("chat.postMessage"):
        metadata = call.args.get("metadata") or {}
        if metadata.get("event_type") == "hitl_escalation":
            item_id = metadata["event_payload"]["item_id"]
            counts[item_id] = counts.get(item_id, 0) + 1
    return counts


def test_steps_due_while_the_process_was_dead_fire_once_on_restart(
    database_url: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    env = serve_env(database_url, standin, rules, free_port())
    process = start_serve(env, tmp_path)
    api = f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews"
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    ids = [
        httpx.post(
            api, json=invoice(workflow="chain", external_id=f"k{n}"), headers=headers
        ).json()["id"]
        for n in range(5)
    ]
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    time.sleep(3)  # the first step of every item falls due while nothing runs
    assert _escalations_per_item(standin) == {}
    restarted = start_serve(env, tmp_path)
    try:
        standin.wait_for(lambda s: len(_escalations_per_item(s)) == 5, timeout=10)
        time.sleep(1.5)
        assert _escalations_per_item(standin) == dict.fromkeys(ids, 1)
    finally:
        stop_serve(restarted)


@pytest.mark.timeout(400)
def test_two_replicas_fire_each_of_2000_simultaneous_steps_exactly_once(
    pg_server: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database(pg_server)
    rules = tmp_path / "rules.yml"
    rules.write_text(SLOW_RULES)
    replicas = []
    try:
        for _ in range(2):
            env = serve_env(url, standin, rules, free_port()) | {"HITL_SWEEP_SECONDS": "0.5"}
            replicas.append((env, start_serve(env, tmp_path)))
        ids: list[str] = []
        lock = threading.Lock()
        started = time.monotonic()

        def submit(replica: int, start: int) -> None:
            api = f"http://127.0.0.1:{replicas[replica][0]['HITL_PORT']}/v1/reviews"
            with httpx.Client(headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as client:
                for n in range(start, start + 250):
                    body = invoice(workflow="chain", external_id=f"r{n}")
                    item_id = client.post(api, json=body).json()["id"]
                    with lock:
                        ids.append(item_id)

        threads = [threading.Thread(target=submit, args=(n % 2, n * 250)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ids)) == 2000
        submitted = time.monotonic()
        print(f"submitted 2000 in {submitted - started:.1f}s")
        # Every first step falls due at the same instant.
        db = Database(url)
        with db.write() as session:
            session.execute(
                update(EscalationStepRow)
                .where(EscalationStepRow.status == StepStatus.PENDING)
                .values(due_at=_now())
            )
        db.dispose()
        deadline = time.monotonic() + 180
        while len(_escalations_per_item(standin)) < 2000 and time.monotonic() < deadline:
            time.sleep(1)  # a slow poll: the replicas need the CPU more than this loop
        time.sleep(2)
        counts = _escalations_per_item(standin)
        print(f"fired {len(counts)} in {time.monotonic() - submitted:.1f}s")
        assert sorted(set(counts.values())) == [1] and set(counts) == set(ids)
    finally:
        for _env, process in replicas:
            process.terminate()  # both shut down at once
        try:
            for _env, process in replicas:
                stop_serve(process)
        finally:
            for _env, process in replicas:
                process.kill()
        drop_pg_database(pg_server, url)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)

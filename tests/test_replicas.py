"""Escalations across restarts and replicas: each step fires exactly once.

Steps are an hour away and the test brings them forward in the database, so nothing fires
early on a slow machine and no test waits out a real delay."""

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import col

from storage.db import Database
from storage.models import EscalationStepRow, StepStatus
from tests.chains import HOURLY_CHAIN_RULES
from tests.harness import AGENT_TOKEN, invoice
from tests.plain_http import TLS
from tests.processes import free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn

PER_REPLICA = 10  # items submitted through each replica


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
    rules.write_text(HOURLY_CHAIN_RULES)  # an hour away: nothing can fire before the kill
    env = serve_env(database_url, standin, rules, free_port())
    process = start_serve(env, tmp_path)
    api = f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews"
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    ids = [
        httpx.post(
            api, json=invoice(workflow="chain", external_id=f"k{n}"), headers=headers, verify=TLS
        ).json()["id"]
        for n in range(5)
    ]
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    _make_every_step_due(database_url)  # the hour passes while nothing runs
    assert _escalations_per_item(standin) == {}
    restarted = start_serve(env, tmp_path)
    try:
        standin.wait_for(lambda s: len(_escalations_per_item(s)) == 5, timeout=30)
        time.sleep(1.5)
        assert _escalations_per_item(standin) == dict.fromkeys(ids, 1)
    finally:
        stop_serve(restarted)


def test_two_replicas_fire_each_of_20_simultaneous_steps_exactly_once(
    pg_server: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    """Both replicas sweep the same due steps at once; each step posts once. Twenty steps
    already make both replicas' sweeps claim from the same due rows; the 2,000-step run
    with its figures is `python -m benchmarks.replicas`."""
    from tests.pg_databases import create_pg_database, drop_pg_database

    url = create_pg_database(pg_server)
    rules = tmp_path / "rules.yml"
    rules.write_text(HOURLY_CHAIN_RULES)
    replicas = []
    try:
        for _ in range(2):
            env = serve_env(url, standin, rules, free_port()) | {"HITL_SWEEP_SECONDS": "0.5"}
            replicas.append((env, start_serve(env, tmp_path)))
        answers: list[httpx.Response] = []
        lock = threading.Lock()

        def submit(replica: int, start: int) -> None:
            api = f"http://127.0.0.1:{replicas[replica][0]['HITL_PORT']}/v1/reviews"
            with httpx.Client(
                verify=TLS, headers={"Authorization": f"Bearer {AGENT_TOKEN}"}, timeout=30
            ) as client:
                for n in range(start, start + PER_REPLICA):
                    body = invoice(workflow="chain", external_id=f"r{n}")
                    answer = client.post(api, json=body)
                    with lock:
                        answers.append(answer)

        threads = [threading.Thread(target=submit, args=(n, n * PER_REPLICA)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [201] * 2 * PER_REPLICA, [
            a.text for a in answers if a.status_code != 201
        ]
        ids = [a.json()["id"] for a in answers]
        assert len(set(ids)) == 2 * PER_REPLICA
        _make_every_step_due(url)  # at the same instant, on both replicas' next sweep
        standin.wait_for(lambda s: len(_escalations_per_item(s)) == len(ids), timeout=60)
        time.sleep(1.5)  # two more sweeps of each replica: a doubled step would show up now
        counts = _escalations_per_item(standin)
        assert counts == dict.fromkeys(ids, 1)
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


def _make_every_step_due(database_url: str) -> None:
    """Brings every waiting step forward to now, as if its hour had passed."""
    db = Database(database_url)
    try:
        with db.write() as session:
            session.execute(
                update(EscalationStepRow)
                .where(col(EscalationStepRow.status) == StepStatus.PENDING)
                .values(due_at=datetime.now(UTC))
            )
    finally:
        db.dispose()

"""SIGTERM: `hitl serve` stops taking work, hands back what is in flight and exits within
10 s, even while an agent's callback receiver hangs."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage import outbox
from storage.db import Database
from tests.callback_receiver import CallbackReceiver
from tests.harness import AGENT_TOKEN, invoice
from tests.plain_http import TLS
from tests.processes import free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def callback_rows(db: Database, item_id: str) -> list[outbox.OutboxMessage]:
    return [row for row in outbox.rows_for_item(db, item_id) if row.kind == "callback"]


@pytest.mark.timeout(120)
def test_sigterm_with_a_hanging_receiver_exits_in_time_and_hands_the_callback_back(
    database_url: str,
    standin: SlackStandIn,
    rules_path: Path,
    tmp_path: Path,
    receiver: CallbackReceiver,
) -> None:
    receiver.hang_seconds = 60
    env = serve_env(database_url, standin, rules_path, free_port())
    env.update(HITL_CALLBACK_ALLOW_PRIVATE="true", HITL_CALLBACK_TIMEOUT_SECONDS="30")
    api = f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews"
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    process = start_serve(env, tmp_path)
    try:
        item = httpx.post(
            api, headers=headers, json=invoice(callback_url=receiver.url), timeout=10, verify=TLS
        ).json()
        assert httpx.post(
            f"{api}/{item['id']}/cancel", headers=headers, timeout=10, verify=TLS
        ).is_success
        standin.wait_for(lambda s: receiver.hanging == 1, timeout=30)
    finally:
        stop_serve(process, timeout=10)  # fails the test if it takes longer
    log = (tmp_path / "serve.log").read_text()
    assert "shutting down" in log and "handed back 1" in log
    db = Database(database_url)
    try:
        [row] = callback_rows(db, item["id"])
        assert (row.status, row.lease_until, row.worker_id) == ("pending", None, None)
        # The next process delivers it at once: nobody waits for a lease to run out.
        receiver.hang_seconds = 0
        env["HITL_PORT"] = str(free_port())
        process = start_serve(env, tmp_path)
        try:
            standin.wait_for(lambda s: bool(receiver.successful()), timeout=30)
        finally:
            stop_serve(process)
        assert receiver.successful()[0].json["status"] == "cancelled"
    finally:
        db.dispose()

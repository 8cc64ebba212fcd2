"""Exactly once across crashes: a process killed while Slack holds its post's reply leaves
a message in Slack; whoever takes the row over finds that message and adopts it instead
of posting again, and takes over within seconds (heartbeats), not when the lease ends."""

import subprocess
from pathlib import Path

import httpx
import pytest

from storage import reviews
from storage.db import Database
from tests.harness import AGENT_TOKEN, invoice, metadata_of
from tests.plain_http import TLS
from tests.processes import free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn


def stored_messages_of(standin: SlackStandIn, item_id: str) -> list[str]:
    return [
        ts
        for (_channel, ts), message in list(standin.messages.items())
        if metadata_of(message).get("event_type") == "hitl_review"
        and metadata_of(message).get("event_payload", {}).get("item_id") == item_id
    ]


def crash_env(database_url: str, standin: SlackStandIn, rules_path: Path) -> dict[str, str]:
    env = serve_env(database_url, standin, rules_path, free_port())
    # A long lease: only the heartbeat can explain a takeover within the test's waits.
    env.update(HITL_OUTBOX_LEASE_SECONDS="120", HITL_WORKER_DEAD_AFTER_SECONDS="3")
    return env


def submit(env: dict[str, str], external_id: str) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews",
        headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
        json=invoice(external_id=external_id),
        timeout=10,
        verify=TLS,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # SIGKILL: no shutdown code runs
    process.wait(10)


@pytest.mark.timeout(240)
def test_repeated_kills_while_slack_holds_the_reply_post_each_item_once(
    database_url: str, standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    items: list[str] = []
    for round_number in range(2):  # a second kill leaves a second dead process's row
        # Slack stores the next post but answers it only after the process is gone.
        standin.delay_replies(1, seconds=20, methods={"chat.postMessage"})
        env = crash_env(database_url, standin, rules_path)
        process = start_serve(env, tmp_path)
        try:
            items.append(submit(env, f"crash-{round_number}"))
            standin.wait_for(lambda s: bool(stored_messages_of(s, items[-1])), timeout=30)
        finally:
            kill_hard(process)
    env = crash_env(database_url, standin, rules_path)
    process = start_serve(env, tmp_path)
    db = Database(database_url)
    try:

        def adopted() -> bool:
            return all(
                (item := reviews.get_item(db, item_id)) is not None and item.message_ts
                for item_id in items
            )

        # Well within the 120 s lease: the dead processes' rows were taken over early.
        standin.wait_for(lambda s: adopted(), timeout=60)
        for item_id in items:
            [ts] = stored_messages_of(standin, item_id)  # posted once, never again
            item = reviews.get_item(db, item_id)
            assert item is not None and item.message_ts == ts
        assert standin.calls_to("conversations.history")
        assert len(standin.calls_to("chat.postMessage")) == len(items)
    finally:
        db.dispose()
        stop_serve(process)

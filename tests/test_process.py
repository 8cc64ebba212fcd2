"""The real `hitl serve` process: settings errors, crashes, Socket Mode."""

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from handlers import blocks
from tests.harness import AGENT_TOKEN, BotHarness, invoice, make_settings
from tests.processes import HITL, free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn


def test_killed_between_accepting_and_posting_posts_once_after_restart(
    database_url: str, standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    env = serve_env(database_url, standin, rules_path, free_port())
    standin.fail_next(10_000, status=500, methods={"chat.postMessage"})  # Slack is down
    process = start_serve(env, tmp_path)
    api = f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews"
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    ids = [
        httpx.post(api, json=invoice(external_id=f"k{n}"), headers=headers).json()["id"]
        for n in range(3)
    ]
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert standin.calls_to("chat.postMessage") == []
    standin.reset()  # Slack is back
    restarted = start_serve(env, tmp_path)
    try:

        def posted(item_id: str) -> int:
            return sum(
                1
                for call in standin.calls_to("chat.postMessage")
                if call.args.get("metadata", {}).get("event_payload", {}).get("item_id") == item_id
            )

        standin.wait_for(lambda s: all(posted(i) == 1 for i in ids), timeout=15)
        time.sleep(1.0)
        assert [posted(i) for i in ids] == [1, 1, 1]
    finally:
        stop_serve(restarted)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is required but not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN must be a bot token"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is required in HTTP mode"),
        ({"HITL_PORT": "http"}, "HITL_PORT"),
        ({"HITL_API_TOKENS": "no-colon"}, "HITL_API_TOKENS each entry must be agent:token"),
        ({"HITL_WEBHOOK_SECRET": "whsec_***"}, "HITL_WEBHOOK_SECRET must be whsec_"),
        ({"HITL_DATABASE_URL": "mysql://x/y"}, "HITL_DATABASE_URL must be a sqlite"),
        ({"SLACK_BOT_TOKEN": "xoxb-wrong"}, "SLACK_BOT_TOKEN: Slack refused the token"),
    ],
)
def test_bad_settings_stop_serve_with_one_clear_line(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path, change: dict, expected: str
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run(
        [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_invalid_rules_file_stops_serve_with_its_errors(
    standin: SlackStandIn, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("routes:\n  - name: x\n    match: {workflow: a}\n    owner: {channel: nope}\n")
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules, free_port())
    result = subprocess.run(
        [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "rules.yml:4" in result.stderr and "owner.channel" in result.stderr
    assert "Traceback" not in result.stderr


def test_rules_check_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "routes:\n"
        "  - name: a\n    match: {workflow: x}\n    owner: {channel: C0OK}\n"
        "    auto_approve_at: 1.5\n"
        "    escalation:\n      - after: 30 minutes\n        to: [U0MANAGER]\n"
    )
    result = subprocess.run(
        [HITL, "rules", "check", str(rules)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "rules.yml:5" in result.stderr and "auto_approve_at" in result.stderr
    assert "rules.yml:7" in result.stderr and "after" in result.stderr
    ok = Path(__file__).resolve().parent.parent / "rules.example.yml"
    good = subprocess.run(
        [HITL, "rules", "check", str(ok)], capture_output=True, text=True, timeout=30
    )
    assert good.returncode == 0, good.stderr


def test_socket_mode_click_reaches_the_same_handlers(
    database_url: str, standin: SlackStandIn, rules_path: Path
) -> None:
    settings = make_settings(
        database_url,
        standin,
        rules_path,
        slack_app_token=standin.app_token,
        slack_signing_secret=None,
    )
    harness = BotHarness(settings, standin).start()
    try:
        standin.wait_for(lambda s: s.socket_connected, timeout=10)
        item = harness.submit()
        payload = harness.click_payload(item["id"], blocks.APPROVE, "U0ALICE")
        envelope = standin.send_socket_envelope("interactive", payload)
        assert standin.wait_socket_ack(envelope)["envelope_id"] == envelope
        assert harness.item(item["id"], wait=10)["status"] == "approved"
        # HTTP mode's endpoint is not exposed: Socket Mode has no signatures to check.
        assert harness.api("POST", "/slack/events", token=None).status_code in (404, 405)
    finally:
        harness.stop()


def test_settings_are_read_from_a_dot_env_file(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    for key in ("SLACK_BOT_TOKEN", "SLACK_API_URL"):
        env.pop(key)
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={standin.bot_token}\nSLACK_API_URL={standin.url}\n"
    )
    process = start_serve(env, tmp_path)  # healthy: the token and the API URL came from .env
    stop_serve(process)
    assert standin.calls_to("auth.test")

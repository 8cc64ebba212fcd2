"""The real `hitl serve` process: settings errors, crashes, .env and JSON logs (Socket Mode
over a served bot: tests/test_click_ack.py)."""

import json
import re
import signal
import socket
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bot import cli
from storage import outbox
from storage.db import Database
from storage.models import OutboxStatus
from tests.harness import AGENT_TOKEN, invoice
from tests.plain_http import TLS
from tests.processes import HITL, free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn


@pytest.mark.migrated_database  # `hitl serve` migrates it on start
def test_killed_between_accepting_and_posting_posts_once_after_restart(
    database_url: str, standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    env = serve_env(database_url, standin, rules_path, free_port())
    standin.fail_next(10_000, status=500, methods={"chat.postMessage"})  # Slack is down
    process = start_serve(env, tmp_path)
    api = f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews"
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    ids = [
        httpx.post(api, json=invoice(external_id=f"k{n}"), headers=headers, verify=TLS).json()["id"]
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

        standin.wait_for(lambda s: all(posted(i) == 1 for i in ids), timeout=30)
        # Once every queued post is done, nothing more is sent: no waiting "long enough".
        database = Database(database_url)
        try:
            standin.wait_for(lambda s: all(_delivered(database, i) for i in ids), timeout=30)
        finally:
            database.dispose()
        assert [posted(i) for i in ids] == [1, 1, 1]
    finally:
        stop_serve(restarted)


def _delivered(database: Database, item_id: str) -> bool:
    rows = outbox.rows_for_item(database, item_id)
    return all(row.status != OutboxStatus.PENDING for row in rows)


# Settings the process refuses before it starts anything: tested in-process through the
# real `hitl serve` command (click's runner), a few of them also as a real process below.
REFUSED_SETTINGS = [
    ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is required but not set"),
    ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN must be a bot token"),
    ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is required in HTTP mode"),
    ({"HITL_PORT": "http"}, "HITL_PORT"),
    ({"HITL_API_TOKENS": "no-colon"}, "HITL_API_TOKENS each entry must be agent:token"),
    ({"HITL_WEBHOOK_SECRET": "whsec_***"}, "HITL_WEBHOOK_SECRET must be whsec_"),
    ({"HITL_DATABASE_URL": "mysql://x/y"}, "HITL_DATABASE_URL must be a sqlite"),
    # The README's placeholders, copied as they are.
    ({"SLACK_BOT_TOKEN": "xoxb-…"}, "SLACK_BOT_TOKEN still holds the placeholder '…'"),
    ({"SLACK_SIGNING_SECRET": "…"}, "SLACK_SIGNING_SECRET still holds the placeholder"),
    ({"HITL_WEBHOOK_SECRET": "whsec_…"}, "HITL_WEBHOOK_SECRET still holds the placeholder"),
    ({"SLACK_BOT_TOKEN": "xoxb-“quoted”"}, "SLACK_BOT_TOKEN contains the character '“'"),
    ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is empty: paste the Bot User OAuth Token"),
    ({"HITL_LOG_LEVEL": "verbose"}, "HITL_LOG_LEVEL must be one of DEBUG, INFO, WARNING"),
    ({"HITL_LOG_FORMAT": "xml"}, "HITL_LOG_FORMAT input should be 'text' or 'json'"),
    ({"HITL_PORT": "abc"}, "HITL_PORT must be a whole number, got 'abc'"),
    ({"HITL_PORT": "70000"}, "HITL_PORT input should be less than or equal to 65535"),
    ({"HITL_OUTBOX_POLL_SECONDS": "fast"}, "HITL_OUTBOX_POLL_SECONDS must be a number"),
    ({"HITL_DATABASE_URL": "not a url"}, "HITL_DATABASE_URL is not a database URL"),
    ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL must be an http(s) URL"),
    ({"HITL_CALLBACK_ALLOW_PRIVATE": "maybe"}, "HITL_CALLBACK_ALLOW_PRIVATE must be true or"),
    ({"HITL_MAX_BODY_BYTES": "10"}, "HITL_MAX_BODY_BYTES input should be greater than"),
]


def _changed(env: dict[str, str], change: dict[str, str | None]) -> dict[str, str]:
    changed = dict(env)
    for key, value in change.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


@pytest.mark.parametrize(("change", "expected"), REFUSED_SETTINGS)
def test_bad_settings_stop_the_serve_command_with_one_clear_line(
    standin: SlackStandIn,
    rules_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict,
    expected: str,
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    # Should a setting ever pass, the command stops at the missing rules file, not serve.
    env["HITL_RULES"] = str(tmp_path / "absent.yml")
    monkeypatch.chdir(tmp_path)  # a `.env` is read from here, as the process reads it
    result = CliRunner().invoke(cli.main, ["serve"], env=_changed(env, change))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Two of the refusals above, as the operator sees them from the real process.
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is required but not set"),
        ({"HITL_PORT": "abc"}, "HITL_PORT must be a whole number, got 'abc'"),
        # The rest need the process to get further: Slack, the database, the rules file.
        ({"SLACK_BOT_TOKEN": "xoxb-wrong"}, "SLACK_BOT_TOKEN: Slack refused the token"),
        ({"HITL_RULES": "missing.yml"}, "HITL_RULES: missing.yml not found: run `hitl init`"),
        (
            {"HITL_DATABASE_URL": "sqlite:////nonexistent-folder/hitl.db"},
            "HITL_DATABASE_URL: cannot open or upgrade the database: unable to open database file",
        ),
        (
            {"HITL_DATABASE_URL": "postgresql://hitl@127.0.0.1:1/hitl"},  # nothing listens
            "HITL_DATABASE_URL: cannot open or upgrade the database: connection failed",
        ),
        ({"HITL_RULES": "."}, "HITL_RULES: . is a folder"),
        ({"HITL_HOST": "999.1.1.1"}, "HITL_HOST/HITL_PORT: cannot listen on 999.1.1.1"),
    ],
)
def test_bad_settings_stop_serve_with_one_clear_line(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path, change: dict, expected: str
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    result = subprocess.run(
        [HITL, "serve"],
        env=_changed(env, change),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
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
        [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
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
    # In-process (click's runner): this command only reads a file and prints.
    result = CliRunner().invoke(cli.main, ["rules", "check", str(rules)])
    assert result.exit_code == 1
    assert "rules.yml:5" in result.stderr and "auto_approve_at" in result.stderr
    assert "rules.yml:7" in result.stderr and "after" in result.stderr
    ok = Path(__file__).resolve().parent.parent / "rules.example.yml"
    good = CliRunner().invoke(cli.main, ["rules", "check", str(ok)])
    assert good.exit_code == 0, good.stderr


def test_a_port_in_use_stops_serve_with_one_clear_line(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, port)
        result = subprocess.run(
            [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in line


def test_a_wrong_app_token_stops_serve_with_one_clear_line(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    """Socket Mode, the README's default: Slack refuses the token only at connect time."""
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    env.pop("SLACK_SIGNING_SECRET")
    env["SLACK_APP_TOKEN"] = "xapp-1-not-the-right-one"
    result = subprocess.run(
        [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("hitl:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("hitl: SLACK_APP_TOKEN: Slack refused it")
    assert "connections:write" in errors[0]
    assert result.stderr.strip().splitlines()[-1] == errors[0]  # the last word, not buried


def test_the_readme_dot_env_copied_as_it_is_names_the_first_placeholder(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    dotenv = next(block for block in blocks if block.lstrip().startswith("SLACK_BOT_TOKEN="))
    (tmp_path / ".env").write_text(textwrap.dedent(dotenv))
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key)
    result = subprocess.run(
        [HITL, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "UnicodeEncodeError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "SLACK_BOT_TOKEN still holds the placeholder '…'" in result.stderr


def test_settings_from_a_dot_env_file_and_json_logs_one_object_a_line_with_the_item_id(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    env["HITL_LOG_FORMAT"] = "json"
    for key in ("SLACK_BOT_TOKEN", "SLACK_API_URL"):
        env.pop(key)
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={standin.bot_token}\nSLACK_API_URL={standin.url}\n"
    )
    process = start_serve(env, tmp_path)  # healthy: the token and the API URL came from .env
    try:
        assert standin.calls_to("auth.test")
        response = httpx.post(
            f"http://127.0.0.1:{env['HITL_PORT']}/v1/reviews",
            json=invoice(),
            headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
            verify=TLS,
        )
        assert response.status_code == 201, response.text
        item_id = response.json()["id"]
        standin.wait_for(lambda s: bool(s.calls_to("chat.postMessage")), timeout=30)
        # Garbage on the HTTP port: the HTTP server's own warning is JSON too.
        with socket.create_connection(("127.0.0.1", int(env["HITL_PORT"])), timeout=5) as raw:
            raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw.recv(1024)
    finally:
        stop_serve(process)
    lines = (tmp_path / "serve.log").read_text().splitlines()
    assert any("Invalid HTTP request" in line for line in lines)
    entries = [json.loads(line) for line in lines]
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        assert entry["time"].endswith("Z")
    about_the_item = [entry for entry in entries if entry.get("item_id") == item_id]
    assert any("submitted" in entry["message"] for entry in about_the_item), entries
    assert any("stopped" in entry["message"] for entry in entries)  # shutdown is logged

"""`hitl init`, `hitl db upgrade`, `hitl --version`, `-h`, and `hitl digest` on a new database,
run as the real command: as a process where the process matters (the installed entry
point, commands that set up logging or open a database), else in-process through click's
runner, which calls the same command function."""

import os
import stat
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values
from sqlalchemy import create_engine, inspect
from standardwebhooks import Webhook

from bot import cli
from bot.settings import parse_api_tokens
from storage.db import normalize_url
from tests.processes import HITL, free_port

REPO = Path(__file__).resolve().parents[1]


def hitl(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    return subprocess.run(
        [HITL, *args], cwd=cwd, env=clean | (env or {}), capture_output=True, text=True, timeout=60
    )


def in_process(
    *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> subprocess.CompletedProcess[str]:
    """The same command, run by click's runner in this process, in `cwd`."""
    monkeypatch.chdir(cwd)
    for key in [key for key in os.environ if key.startswith(("SLACK_", "HITL_"))]:
        monkeypatch.delenv(key)
    result = CliRunner().invoke(cli.main, list(args), prog_name="hitl")
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_version_and_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = hitl("--version", cwd=tmp_path)  # the installed command, as a user runs it
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"hitl {version('hitl-bot')}"
    for flag in ("-h", "--help"):
        helped = in_process(flag, cwd=tmp_path, monkeypatch=monkeypatch)
        assert helped.returncode == 0
        for command in ("init", "serve", "db", "rules", "digest"):
            assert f"  {command} " in helped.stdout
    assert "upgrade" in in_process("db", "-h", cwd=tmp_path, monkeypatch=monkeypatch).stdout


def test_init_writes_a_dot_env_with_fresh_secrets_and_the_example_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = hitl("init", "--agent", "invoice-bot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    values = dotenv_values(tmp_path / ".env")
    agents = parse_api_tokens(values["HITL_API_TOKENS"] or "")
    assert list(agents.values()) == ["invoice-bot"]
    Webhook(values["HITL_WEBHOOK_SECRET"] or "")  # the agent's verifier takes it
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600  # it holds secrets
    rules = (tmp_path / "rules.yml").read_text()
    assert rules == (REPO / "rules.example.yml").read_text()
    assert in_process("rules", "check", cwd=tmp_path, monkeypatch=monkeypatch).returncode == 0
    # Another project gets other secrets.
    other = tmp_path / "other"
    made = in_process("init", "--dir", str(other), cwd=tmp_path, monkeypatch=monkeypatch)
    assert made.returncode == 0
    again = dotenv_values(other / ".env")
    assert again["HITL_API_TOKENS"] != values["HITL_API_TOKENS"]
    assert again["HITL_WEBHOOK_SECRET"] != values["HITL_WEBHOOK_SECRET"]


@pytest.mark.parametrize("existing", [".env", "rules.yml"])
def test_init_never_overwrites(
    tmp_path: Path, existing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / existing).write_text("mine\n")
    result = in_process("init", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode != 0
    assert existing in one_line(result.stderr)
    assert (tmp_path / existing).read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing half-written


def test_db_upgrade_creates_the_schema_and_can_run_again(database_url: str, tmp_path: Path) -> None:
    env = {"HITL_DATABASE_URL": database_url}
    first = hitl("db", "upgrade", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "schema at revision" in first.stdout
    engine = create_engine(normalize_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"review_item", "outbox", "alembic_version"} <= tables, tables
    again = hitl("db", "upgrade", cwd=tmp_path, env=env)
    assert again.returncode == 0 and again.stdout == first.stdout


def test_digest_on_a_database_serve_never_created(
    database_url: str, rules_path: Path, tmp_path: Path
) -> None:
    env = {"HITL_DATABASE_URL": database_url, "HITL_RULES": str(rules_path)}
    result = hitl("digest", "--week", "2026-W47", "--format", "json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert '"routes"' in result.stdout or '"period"' in result.stdout
    assert "no such table" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-folder/hitl.db",
        "postgresql://postgres@127.0.0.1:{port}/hitl",  # nothing listens there
    ],
)
def test_db_upgrade_on_a_database_it_cannot_open_says_so_in_one_line(
    tmp_path: Path, url: str
) -> None:
    env = {"HITL_DATABASE_URL": url.format(port=free_port())}
    result = hitl("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("hitl: HITL_DATABASE_URL: cannot open")


def test_digest_without_a_rules_file_says_what_to_run(tmp_path: Path) -> None:
    env = {"HITL_DATABASE_URL": f"sqlite:///{tmp_path / 'hitl.db'}"}
    result = hitl("digest", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "hitl init" in one_line(result.stderr)

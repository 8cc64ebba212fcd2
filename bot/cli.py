"""The `hitl` command."""

import logging
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from bot import cli_record
from bot.cli_support import (
    configure_command_logging,
    exit_on_rule_issues,
    fail,
    require_rules_file,
    store_settings,
    upgrade_database,
)
from bot.logs import configure_logging
from bot.settings import Settings, describe_error
from rules import RulesError

if TYPE_CHECKING:
    from bot.server import Runtime

log = logging.getLogger("bot.cli")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hitl-bot", prog_name="hitl", message="%(prog)s %(version)s")
def main() -> None:
    """hitl: keeps people in the loop of AI agents, in Slack.

    Start with `hitl init`, fill in `.env` and `rules.yml`, then `hitl serve`.
    """


@main.command()
def serve() -> None:
    """Run the HTTP server, the Slack connection and the workers in one process."""
    from bot.server import Runtime, StartupError

    try:
        settings = Settings()  # read from the environment
    except ValidationError as error:
        fail(f"configuration error: {describe_error(error)}")
    configure_logging(settings.log_level, settings.log_format)
    require_rules_file(settings.rules_path)
    _require_free_address(settings.host, settings.port)
    revision = upgrade_database(settings.database_url)
    log.debug("database ready (schema %s)", revision)
    runtime: Runtime | None = None
    try:
        runtime = Runtime(settings)
        runtime.start()
    except StartupError as error:
        _stop_quietly(runtime)
        fail(str(error))
    except RulesError as error:
        _stop_quietly(runtime)
        fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    started = runtime

    def on_sigterm(*_: object) -> None:
        log.info("received SIGTERM")
        started.stop()  # logs the shutdown and when it is done

    signal.signal(signal.SIGTERM, on_sigterm)
    runtime.wait()
    runtime.stop()


@main.command()
@click.option(
    "--agent",
    default="my-agent",
    show_default=True,
    help="The agent's name in HITL_API_TOKENS (it names the agent in Slack and the API).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Where to write the files (default: here).",
)
def init(agent: str, directory: Path) -> None:
    """Write `.env` with a fresh API token and webhook secret, and `rules.yml` from the
    example. Never overwrites either file."""
    from bot import starter_files

    if not agent or any(char in agent for char in ":, \t"):
        fail("--agent must be a name without ':', ',' or spaces")
    env_path = directory / starter_files.ENV_FILE
    rules_path = directory / starter_files.RULES_FILE
    for path in (env_path, rules_path):
        if path.exists():
            fail(f"{path} already exists; hitl init never overwrites (move it away first)", 1)
    text = starter_files.env_file_text(
        agent, starter_files.new_api_token(), starter_files.new_webhook_secret()
    )
    rules_text = starter_files.example_rules_text()  # read before writing anything
    directory.mkdir(parents=True, exist_ok=True)
    # "x": created here or not at all, even if another process wrote the file just now.
    with env_path.open("x", encoding="utf-8") as env_file:
        env_file.write(text)
    env_path.chmod(0o600)  # it holds secrets
    with rules_path.open("x", encoding="utf-8") as rules_file:
        rules_file.write(rules_text)
    click.echo(f"wrote {env_path} (API token for {agent!r}, webhook secret) and {rules_path}")
    click.echo(
        "next: put your Slack tokens in .env, your channel and user IDs in rules.yml, "
        "then run `hitl rules check` and `hitl serve`"
    )


@main.group()
def db() -> None:
    """Work with the database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database schema, or upgrade it to this version of hitl (HITL_DATABASE_URL).

    `hitl serve` does this by itself on start; run it before starting several replicas of
    a new version, or to create the database for `hitl digest`."""
    from sqlalchemy.engine import make_url

    settings = store_settings()
    configure_command_logging()
    revision = upgrade_database(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"{shown}: schema at revision {revision}")


@main.group()
def rules() -> None:
    """Work with the rules file."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate a rules file (default: HITL_RULES or rules.yml) and print every error."""
    target = path or Path(os.environ.get("HITL_RULES", "rules.yml"))
    exit_on_rule_issues(target)
    click.echo(f"{target}: OK")


def _require_free_address(host: str, port: int) -> None:
    """Fails before anything starts when the HTTP server could not listen; the server binds
    again itself (a port taken in between still stops it, with the same message)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        reason = error.strerror or str(error)
        fail(
            f"HITL_HOST/HITL_PORT: cannot listen on {host}:{port} ({reason}); set HITL_HOST to "
            "an address of this machine (0.0.0.0 for all) and HITL_PORT to a free port"
        )


def _stop_quietly(runtime: "Runtime | None") -> None:
    """Stops what a failed start had begun, so the process can exit."""
    if runtime is None:
        return
    logging.disable(logging.INFO)  # a start that failed is no shutdown worth logging
    try:
        runtime.stop()
    except Exception:  # already failing: the start error is the one to report
        log.debug("stopping after a failed start failed too", exc_info=True)
    finally:
        logging.disable(logging.NOTSET)


# The commands that read the record live in bot/cli_record.py.
main.add_command(cli_record.digest)
main.add_command(cli_record.export_items)
rules.add_command(cli_record.rules_replay)

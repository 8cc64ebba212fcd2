"""The `hitl` command."""

import logging
import signal
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from bot.settings import Settings, describe_error
from rules import RulesError, check_rules


@click.group()
def main() -> None:
    """hitl: keeps people in the loop of AI agents, in Slack."""


@main.command()
def serve() -> None:
    """Run the HTTP server, the Slack connection and the workers in one process."""
    from bot.server import Runtime, StartupError

    try:
        settings = Settings()
    except ValidationError as error:
        _fail(f"configuration error: {describe_error(error)}")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        runtime = Runtime(settings)
        runtime.start()
    except StartupError as error:
        _fail(str(error))
    except RulesError as error:
        _fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    signal.signal(signal.SIGTERM, lambda *_: runtime.stop())
    runtime.wait()
    runtime.stop()


@main.group()
def rules() -> None:
    """Work with the rules file."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate a rules file (default: HITL_RULES or rules.yml) and print every error."""
    import os

    target = path or Path(os.environ.get("HITL_RULES", "rules.yml"))
    issues = check_rules(target)
    for issue in issues:
        click.echo(str(issue), err=True)
    if issues:
        click.echo(f"{len(issues)} error(s) in {target}", err=True)
        sys.exit(1)
    click.echo(f"{target}: OK")


def _fail(message: str) -> None:
    click.echo(f"hitl: {message}", err=True)
    sys.exit(2)

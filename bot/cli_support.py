"""What the `hitl` commands share: failing with one line, settings, logging, the rules
file and the schema."""

import os
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError

from bot.logs import configure_logging
from bot.settings import LOG_FORMATS, LOG_LEVELS, StoreSettings, describe_error
from rules import check_rules


def store_settings() -> StoreSettings:
    try:
        return StoreSettings()  # read from the environment
    except ValidationError as error:
        fail(f"configuration error: {describe_error(error)}")


def configure_command_logging() -> None:
    """Commands other than `serve` read only the log settings and fall back to the defaults,
    so a log setting never stops a one-off command."""
    level = os.environ.get("HITL_LOG_LEVEL", "WARNING").upper()
    log_format = os.environ.get("HITL_LOG_FORMAT", "text").lower()
    configure_logging(
        level if level in LOG_LEVELS else "WARNING",
        log_format if log_format in LOG_FORMATS else "text",
    )


def require_rules_file(path: Path) -> None:
    if path.is_dir():
        fail(f"HITL_RULES: {path} is a folder; set HITL_RULES to the rules file in it")
    if not path.is_file():
        fail(
            f"HITL_RULES: {path} not found: run `hitl init` to write one from the example, "
            "or set HITL_RULES to your rules file"
        )


def upgrade_database(url: str) -> str:
    from storage.migrate import DatabaseUnavailable, upgrade

    try:
        return upgrade(url)
    except DatabaseUnavailable as error:
        fail(f"HITL_DATABASE_URL: cannot open or upgrade the database: {error}")


def exit_on_rule_issues(target: Path) -> None:
    """Prints every problem of the rules file and exits 1, as `hitl rules check` does."""
    issues = check_rules(target)
    for issue in issues:
        click.echo(str(issue), err=True)
    if issues:
        click.echo(f"{len(issues)} error(s) in {target}", err=True)
        sys.exit(1)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"hitl: {message}", err=True)
    sys.exit(code)

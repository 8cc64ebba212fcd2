"""The `hitl` command."""

import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import ValidationError

from bot.settings import Settings, StoreSettings, describe_error
from rules import RulesError, check_rules

if TYPE_CHECKING:
    from slack_sdk import WebClient


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


@main.command()
@click.option("--week", help="ISO week, like 2026-W47 (default: the last full week).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last, YYYY-MM-DD.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
)
@click.option("--post", is_flag=True, help="Also post it to the rules' digest channel.")
def digest(
    week: str | None, since: datetime | None, until: datetime | None, output: str, post: bool
) -> None:
    """Build the friction digest of a week or any period, print it, or post it."""
    from bot import digest_publisher
    from digest import markdown, periods
    from rules import RulesError, load_rules
    from storage.db import Database

    try:
        settings = StoreSettings()
    except ValidationError as error:
        _fail(f"configuration error: {describe_error(error)}")
    try:
        rules = load_rules(settings.rules_path).rules
    except RulesError as error:
        _fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    zone = rules.tzinfo
    try:
        if week and (since or until):
            raise click.UsageError("give --week or --since/--until, not both")
        if since or until:
            if not (since and until):
                raise click.UsageError("--since and --until go together")
            period = periods.dates(since.date(), until.date(), zone)
        elif week:
            period = periods.week(week, zone)
        else:
            period = periods.last_full_week(datetime.now(UTC), zone)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    slack = _slack_client(settings) if (post or settings.slack_bot_token) else None
    db = Database(settings.database_url)
    try:
        built = digest_publisher.build(
            db, rules, period, now=datetime.now(UTC), team_url=_team_url(slack)
        )
    except Exception as error:  # the database is the usual suspect; say so in one line
        _fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
    finally:
        db.dispose()
    if output == "json":
        click.echo(built.model_dump_json(indent=2))
    else:
        click.echo(markdown.render(built), nl=False)
    if post:
        if rules.digest is None:
            _fail("--post needs a `digest: {channel: …}` section in the rules")
        if slack is None:
            _fail("--post needs SLACK_BOT_TOKEN")
        channel, ts = digest_publisher.post_message(slack, rules.digest.channel, built)
        digest_publisher.post_chart(slack, channel, ts, built)
        click.echo(f"posted to {channel} ({ts})", err=True)


def _slack_client(settings: StoreSettings) -> "WebClient | None":
    from slack_sdk import WebClient

    if not settings.slack_bot_token:
        return None
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)


def _team_url(slack: "WebClient | None") -> str | None:
    """The workspace URL for links to messages; the digest is printed without them if the
    token cannot be checked."""
    if slack is None:
        return None
    try:
        return str(slack.auth_test().get("url") or "") or None
    except Exception:
        return None


def _fail(message: str) -> NoReturn:
    click.echo(f"hitl: {message}", err=True)
    sys.exit(2)

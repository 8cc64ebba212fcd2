"""The commands that read the record: `hitl digest`, `hitl export` and `hitl rules replay`.
`bot.cli` adds them to the `hitl` command."""

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.cli_support import (
    configure_command_logging,
    exit_on_rule_issues,
    fail,
    require_rules_file,
    store_settings,
    upgrade_database,
)
from bot.settings import StoreSettings
from rules import RulesError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from slack_sdk import WebClient

    from digest.model import Digest, Period


_Command = TypeVar("_Command", bound=Callable[..., Any])


def _period_and_format(command: _Command) -> _Command:
    """--week or --since/--until, and --format: how the digest and a replay take them."""
    options = (
        click.option("--week", help="ISO week, like 2026-W47 (default: the last full week)."),
        click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD."),
        click.option(
            "--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last, YYYY-MM-DD."
        ),
        click.option(
            "--format",
            "output",
            type=click.Choice(["markdown", "json"]),
            default="markdown",
            show_default=True,
        ),
    )
    for option in reversed(options):  # listed in --help in this order
        command = option(command)
    return command


@click.command("replay")
@click.argument("new_rules", type=click.Path(path_type=Path))
@_period_and_format
def rules_replay(
    new_rules: Path, week: str | None, since: datetime | None, until: datetime | None, output: str
) -> None:
    """Replay a period's items against NEW_RULES and compare with the rules in use
    (HITL_RULES): routing, auto-approvals and their cost, escalations, load per reviewer.
    Reads only; never posts (docs/replay.md)."""
    import json

    from rules import load_rules
    from rules.replay import Replay, markdown
    from storage.db import Database
    from storage.export_queries import replay_rows

    exit_on_rule_issues(new_rules)
    settings = store_settings()
    configure_command_logging()
    require_rules_file(settings.rules_path)
    try:
        current = load_rules(settings.rules_path)
    except RulesError as error:
        fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    proposed = load_rules(new_rules)
    period = _period(week, since, until, current.rules.tzinfo)
    upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    replay = Replay(current.rules, proposed.rules, period_end=period.until)
    try:
        for row in replay_rows(db, period.since, period.until):
            replay.add(row)
    except Exception as error:  # the database is the usual suspect; say so in one line
        fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
    finally:
        db.dispose()
    report = {
        "period": {
            "label": period.label,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
        "rules": {"old": str(settings.rules_path), "new": str(new_rules)},
        **replay.report(),
    }
    if output == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(markdown(report), nl=False)


@click.command()
@_period_and_format
@click.option("--post", is_flag=True, help="Also post it to the rules' digest channel.")
@click.option(
    "--proposals",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each suggested rules change into a copy of the rules file in this folder "
    "(<kind>-<route>.yml), for `hitl rules replay`.",
)
def digest(
    week: str | None,
    since: datetime | None,
    until: datetime | None,
    output: str,
    post: bool,
    proposals: Path | None,
) -> None:
    """Build the friction digest of a week or any period, print it, or post it."""
    from bot import digest_publisher
    from digest import markdown
    from rules import load_rules
    from storage.db import Database

    settings = store_settings()
    configure_command_logging()
    require_rules_file(settings.rules_path)
    try:
        rules = load_rules(settings.rules_path).rules
    except RulesError as error:
        fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    period = _period(week, since, until, rules.tzinfo)
    # A database `hitl serve` has not created yet gets its schema (and an empty digest).
    upgrade_database(settings.database_url)
    slack = _slack_client(settings) if (post or settings.slack_bot_token) else None
    db = Database(settings.database_url)
    try:
        built = digest_publisher.build(
            db, rules, period, now=datetime.now(UTC), team_url=_team_url(slack)
        )
    except Exception as error:  # the database is the usual suspect; say so in one line
        fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
    finally:
        db.dispose()
    if proposals is not None:
        built = _write_proposals(built, settings.rules_path, proposals)
    if output == "json":
        click.echo(built.model_dump_json(indent=2))
    else:
        click.echo(markdown.render(built), nl=False)
    if post:
        if rules.digest is None:
            fail("--post needs a `digest: {channel: …}` section in the rules")
        if slack is None:
            fail("--post needs SLACK_BOT_TOKEN")
        channel, ts = digest_publisher.post_message(slack, rules.digest.channel, built)
        digest_publisher.post_chart(slack, channel, ts, built)
        click.echo(f"posted to {channel} ({ts})", err=True)


def _write_proposals(built: "Digest", rules_path: Path, directory: Path) -> "Digest":
    """Writes the rules file with each suggestion's change applied, checked as `hitl rules
    check` would; the suggestions' replay commands then name those files."""
    from digest.suggestions import apply_rules_change, proposal_name, with_proposal_file
    from rules import load_rules_text

    text = rules_path.read_text(encoding="utf-8-sig")
    suggestions = []
    for suggestion in built.suggestions:
        if suggestion.rules_change is None or suggestion.route is None:
            suggestions.append(suggestion)
            continue
        path = directory / proposal_name(suggestion.kind, suggestion.route)
        note = (
            f"{rules_path} with the digest's {suggestion.kind} suggestion for route "
            f"{suggestion.route} ({built.period.label}) applied, written by hitl digest."
        )
        try:
            proposed = apply_rules_change(text, suggestion.rules_change, note=note)
            load_rules_text(proposed, str(path))
        except (ValueError, RulesError) as error:
            fail(f"cannot write {path}: {error}")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(proposed, encoding="utf-8")
        except OSError as error:
            fail(f"--proposals: cannot write {path}: {error.strerror or error}")
        suggestions.append(with_proposal_file(suggestion, str(path)))
    return built.model_copy(update={"suggestions": suggestions})


@click.command("export")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC), YYYY-MM-DD.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last (UTC).")
@click.option("--workflow", help="Only this workflow's items.")
@click.option(
    "--format", "output", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
def export_items(
    since: datetime | None, until: datetime | None, workflow: str | None, output: str
) -> None:
    """Print every item with its decision, changes, comments and audit trail (docs/export.md)."""
    from bot import export
    from storage.db import Database
    from storage.export_queries import item_records

    settings = store_settings()
    configure_command_logging()
    upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    try:
        records = item_records(
            db,
            since=since.replace(tzinfo=UTC) if since else None,
            until=until.replace(tzinfo=UTC) if until else None,
            workflow=workflow,
        )
        count = export.write(records, sys.stdout, output)
    except Exception as error:  # the database is the usual suspect; say so in one line
        fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
    finally:
        db.dispose()
    click.echo(f"exported {count} item(s)", err=True)


def _period(
    week: str | None, since: datetime | None, until: datetime | None, zone: "ZoneInfo"
) -> "Period":
    """The period named by --week or --since/--until (default: the last full week)."""
    from digest import periods

    try:
        if week and (since or until):
            raise click.UsageError("give --week or --since/--until, not both")
        if since or until:
            if not (since and until):
                raise click.UsageError("--since and --until go together")
            return periods.dates(since.date(), until.date(), zone)
        if week:
            return periods.week(week, zone)
        return periods.last_full_week(datetime.now(UTC), zone)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


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

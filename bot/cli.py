"""The `hitl` command."""

import logging
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import ValidationError

from bot.logs import configure_logging
from bot.settings import LOG_FORMATS, LOG_LEVELS, Settings, StoreSettings, describe_error
from rules import RulesError, check_rules

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from slack_sdk import WebClient

    from bot.server import Runtime
    from digest.model import Digest, Period

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
        _fail(f"configuration error: {describe_error(error)}")
    configure_logging(settings.log_level, settings.log_format)
    _require_rules_file(settings.rules_path)
    _require_free_address(settings.host, settings.port)
    revision = _upgrade_database(settings.database_url)
    log.debug("database ready (schema %s)", revision)
    runtime: Runtime | None = None
    try:
        runtime = Runtime(settings)
        runtime.start()
    except StartupError as error:
        _stop_quietly(runtime)
        _fail(str(error))
    except RulesError as error:
        _stop_quietly(runtime)
        _fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
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
        _fail("--agent must be a name without ':', ',' or spaces")
    env_path = directory / starter_files.ENV_FILE
    rules_path = directory / starter_files.RULES_FILE
    for path in (env_path, rules_path):
        if path.exists():
            _fail(f"{path} already exists; hitl init never overwrites (move it away first)", 1)
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

    settings = _store_settings()
    _configure_command_logging()
    revision = _upgrade_database(settings.database_url)
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
    _exit_on_rule_issues(target)
    click.echo(f"{target}: OK")


def _exit_on_rule_issues(target: Path) -> None:
    """Prints every problem of the rules file and exits 1, as `hitl rules check` does."""
    issues = check_rules(target)
    for issue in issues:
        click.echo(str(issue), err=True)
    if issues:
        click.echo(f"{len(issues)} error(s) in {target}", err=True)
        sys.exit(1)


@rules.command("replay")
@click.argument("new_rules", type=click.Path(path_type=Path))
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

    _exit_on_rule_issues(new_rules)
    settings = _store_settings()
    _configure_command_logging()
    _require_rules_file(settings.rules_path)
    try:
        current = load_rules(settings.rules_path)
    except RulesError as error:
        _fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    proposed = load_rules(new_rules)
    period = _period(week, since, until, current.rules.tzinfo)
    _upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    replay = Replay(current.rules, proposed.rules, period_end=period.until)
    try:
        for row in replay_rows(db, period.since, period.until):
            replay.add(row)
    except Exception as error:  # the database is the usual suspect; say so in one line
        _fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
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

    settings = _store_settings()
    _configure_command_logging()
    _require_rules_file(settings.rules_path)
    try:
        rules = load_rules(settings.rules_path).rules
    except RulesError as error:
        _fail(f"HITL_RULES: {settings.rules_path} is not valid:\n{error}")
    period = _period(week, since, until, rules.tzinfo)
    # A database `hitl serve` has not created yet gets its schema (and an empty digest).
    _upgrade_database(settings.database_url)
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
    if proposals is not None:
        built = _write_proposals(built, settings.rules_path, proposals)
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
            _fail(f"cannot write {path}: {error}")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(proposed, encoding="utf-8")
        except OSError as error:
            _fail(f"--proposals: cannot write {path}: {error.strerror or error}")
        suggestions.append(with_proposal_file(suggestion, str(path)))
    return built.model_copy(update={"suggestions": suggestions})


@main.command("export")
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

    settings = _store_settings()
    _configure_command_logging()
    _upgrade_database(settings.database_url)
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
        _fail(f"HITL_DATABASE_URL: cannot read the record: {str(error).splitlines()[0]}")
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


def _store_settings() -> StoreSettings:
    try:
        return StoreSettings()  # read from the environment
    except ValidationError as error:
        _fail(f"configuration error: {describe_error(error)}")


def _configure_command_logging() -> None:
    """Commands other than `serve` read only the log settings and fall back to the defaults,
    so a log setting never stops a one-off command."""
    level = os.environ.get("HITL_LOG_LEVEL", "WARNING").upper()
    log_format = os.environ.get("HITL_LOG_FORMAT", "text").lower()
    configure_logging(
        level if level in LOG_LEVELS else "WARNING",
        log_format if log_format in LOG_FORMATS else "text",
    )


def _require_rules_file(path: Path) -> None:
    if path.is_dir():
        _fail(f"HITL_RULES: {path} is a folder; set HITL_RULES to the rules file in it")
    if not path.is_file():
        _fail(
            f"HITL_RULES: {path} not found: run `hitl init` to write one from the example, "
            "or set HITL_RULES to your rules file"
        )


def _require_free_address(host: str, port: int) -> None:
    """Fails before anything starts when the HTTP server could not listen; the server binds
    again itself (a port taken in between still stops it, with the same message)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        reason = error.strerror or str(error)
        _fail(
            f"HITL_HOST/HITL_PORT: cannot listen on {host}:{port} ({reason}); set HITL_HOST to "
            "an address of this machine (0.0.0.0 for all) and HITL_PORT to a free port"
        )


def _upgrade_database(url: str) -> str:
    from storage.migrate import DatabaseUnavailable, upgrade

    try:
        return upgrade(url)
    except DatabaseUnavailable as error:
        _fail(f"HITL_DATABASE_URL: cannot open or upgrade the database: {error}")


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


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"hitl: {message}", err=True)
    sys.exit(code)

"""`hitl rules replay NEW.yml`: a generated history replayed against proposed rules, as the
command prints it (click's runner, a real database on SQLite and PostgreSQL). Expected
figures are counted straight from the generated rows."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from bot import cli
from digest import periods
from storage.db import Database
from storage.models import ReviewItem, Status
from tests.history import HISTORY_RULES, TIMEZONE, generate_history

WEEK = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin: ISO week 2026-W47
PERIOD = periods.week("2026-W47", TIMEZONE)
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "replay.schema.json").read_text())


@pytest.fixture
def history(db: Database) -> Database:
    generate_history(db, week_start=WEEK, weeks=2, seed=11)
    return db


def _items(db: Database) -> list[ReviewItem]:
    with db.read() as session:
        return [
            item
            for item in session.exec(select(ReviewItem))
            if PERIOD.since <= item.created_at < PERIOD.until
        ]


def _run(tmp_path: Path, database_url: str, new_rules: str, *args: str) -> Result:
    (tmp_path / "rules.yml").write_text(HISTORY_RULES)
    (tmp_path / "new.yml").write_text(new_rules)
    env = {"HITL_DATABASE_URL": database_url, "HITL_RULES": str(tmp_path / "rules.yml")}
    return CliRunner().invoke(
        cli.main,
        ["rules", "replay", str(tmp_path / "new.yml"), "--week", "2026-W47", *args],
        env=env,
        prog_name="hitl",
    )


def _json(tmp_path: Path, database_url: str, new_rules: str) -> dict[str, Any]:
    result = _run(tmp_path, database_url, new_rules, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    return report


def _route(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(route for route in report["routes"] if route["name"] == name)


def test_lower_threshold_counts_exactly_the_rejected_and_edited_it_would_approve(
    history: Database, database_url: str, tmp_path: Path
) -> None:
    new = HISTORY_RULES.replace("auto_approve_at: 0.97", "auto_approve_at: 0.8")
    report = _json(tmp_path, database_url, new)
    newly = [
        item
        for item in _items(history)
        if item.workflow == "ap-invoices" and 0.8 <= item.confidence < 0.97
    ]
    cost = _route(report, "invoices")["newly_auto_approved"]
    rejected = sum(item.status == Status.REJECTED for item in newly)
    edited = sum(item.status == Status.EDITED for item in newly)
    assert rejected + edited > 0  # the history has people correcting such items
    assert (cost["items"], cost["rejected"], cost["edited"]) == (len(newly), rejected, edited)
    assert cost["bad_share"] is not None
    assert cost["bad_share"] < cost["bad_share_upper_bound"] <= 1
    assert report["items"] == len(_items(history))
    markdown = _run(tmp_path, database_url, new)
    assert f"{rejected} rejected and {edited} edited" in markdown.stdout


def test_a_new_route_takes_a_workflow_and_a_removed_one_leaves_items_unmatched(
    history: Database, database_url: str, tmp_path: Path
) -> None:
    new = HISTORY_RULES.replace(
        "  - name: support\n    match: {workflow: support-replies}\n",
        "  - name: support-tier2\n"
        "    match: {workflow: support-replies}\n"
        "    owner: {channel: C0TIER2, users: [U0HEIDI]}\n"
        "  - name: support\n    match: {workflow: support-legacy}\n",
    ).replace("    match: {workflow: faq-answers}\n", "    match: {workflow: faq-old}\n")
    report = _json(tmp_path, database_url, new)
    items = _items(history)
    support = sum(item.workflow == "support-replies" for item in items)
    faq = sum(item.workflow == "faq-answers" for item in items)
    assert _route(report, "support")["moved_out"] == {"support-tier2": support}
    assert _route(report, "support-tier2")["moved_in"] == {"support": support}
    assert _route(report, "faq")["moved_out"] == {"(unmatched)": faq}
    assert report["unmatched"] == {"old": 0, "new": faq}
    heidi = next(r for r in report["reviewers"] if r["who"] == "U0HEIDI")
    assert heidi == {"who": "U0HEIDI", "old": 0, "new": support}


def test_a_longer_step_fires_fewer_escalations(
    history: Database, database_url: str, tmp_path: Path
) -> None:
    new = HISTORY_RULES.replace("{after: 1h, to: [U0LEGALLEAD]}", "{after: 90m, to: [U0LEGALLEAD]}")
    report = _json(tmp_path, database_url, new)
    waits = [
        item.decided_at - item.created_at
        for item in _items(history)
        if item.workflow == "contract-review" and item.decided_at is not None
    ]
    contracts = _route(report, "contracts")
    assert contracts["old"]["escalations"] == sum(w > timedelta(hours=1) for w in waits)
    assert contracts["new"]["escalations"] == sum(w > timedelta(minutes=90) for w in waits)
    assert 0 < contracts["new"]["escalations"] < contracts["old"]["escalations"]
    assert contracts["new"]["escalation_steps"][0]["to"] == ["U0LEGALLEAD"]
    lead = next(r for r in report["reviewers"] if r["who"] == "U0LEGALLEAD")
    assert (lead["old"], lead["new"]) == (
        contracts["old"]["escalations"],
        contracts["new"]["escalations"],
    )


def test_a_rules_file_with_errors_is_refused_as_rules_check_refuses_it(
    database_url: str, tmp_path: Path
) -> None:
    bad = HISTORY_RULES.replace("auto_approve_at: 0.97", "auto_approve_at: 1.5").replace(
        "{after: 1h,", "{after: soon,"
    )
    replayed = _run(tmp_path, database_url, bad)
    checked = CliRunner().invoke(cli.main, ["rules", "check", str(tmp_path / "new.yml")])
    assert replayed.exit_code == checked.exit_code == 1
    assert replayed.stdout == ""
    assert replayed.stderr == checked.stderr
    assert replayed.stderr.count("new.yml:") == 2

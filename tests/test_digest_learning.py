"""The digest closes the loop (issue 14): each suggested rules change comes as a snippet
and a `hitl rules replay` command over its evidence, `--proposals` writes the proposed
rules files and the printed command runs as printed; the period's drift alerts and the
fields reviewers keep changing reach the Markdown, the JSON and the Slack blocks.

Run through the installed `hitl` against a real database on SQLite and PostgreSQL."""

import json
import shlex
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlmodel import select

from digest import markdown, periods
from digest.build import build_digest
from digest.model import Digest
from digest.suggestions import apply_rules_change
from handlers.digest_blocks import digest_message
from rules import load_rules_text
from storage import reviews
from storage.db import Database
from storage.models import AlertStatus, DriftAlert, ReviewItem, SpotCheck, Status
from tests.conftest import run_cli
from tests.history import HISTORY_RULES, generate_history

RULES = load_rules_text(HISTORY_RULES).rules
WEEK = periods.week("2026-W46", RULES.tzinfo)
DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMA = json.loads((DOCS / "digest.schema.json").read_text())


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    rules = tmp_path / "rules.yml"
    rules.write_text(HISTORY_RULES)
    return {"HITL_DATABASE_URL": database_url, "HITL_RULES": str(rules)}


def _slack_text(digest: Digest) -> str:
    _, blocks = digest_message(digest)
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    return json.dumps(blocks, ensure_ascii=False)


def _suggestion(document: dict[str, Any], kind: str, route: str) -> dict[str, Any]:
    return next(s for s in document["suggestions"] if (s["kind"], s["route"]) == (kind, route))


def _replay(command: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Runs the printed command as printed (plus --format json, to read its figures)."""
    words = shlex.split(command)
    assert words[:3] == ["hitl", "rules", "replay"]
    done = run_cli(*words[1:], "--format", "json", env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _route(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(route for route in report["routes"] if route["name"] == name)


def test_a_suggested_threshold_is_written_checked_and_replayed_as_printed(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    generate_history(db, week_start=WEEK.since, weeks=4)
    env = _env(database_url, tmp_path)
    done = run_cli(
        "digest", "--week", "2026-W46", "--format", "json", "--proposals", "proposals",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)

    earned = _suggestion(document, "auto_approve_earned", "faq")
    threshold = earned["evidence"]["threshold"]
    assert yaml.safe_load(earned["rules_change"]) == {
        "routes": [{"name": "faq", "auto_approve_at": threshold}]
    }
    proposed = tmp_path / "proposals" / "auto_approve_earned-faq.yml"
    assert earned["proposal_file"] == "proposals/auto_approve_earned-faq.yml"
    checked = run_cli("rules", "check", str(proposed))
    assert checked.returncode == 0, checked.stderr
    faq = load_rules_text(proposed.read_text()).rules.route_named("faq")
    assert faq is not None and faq.auto_approve_at == threshold
    # The 28 days the threshold was earned over, in the rules' time zone.
    assert earned["replay_command"] == (
        "hitl rules replay proposals/auto_approve_earned-faq.yml "
        "--since 2026-10-19 --until 2026-11-16"
    )
    report = _replay(earned["replay_command"], env, tmp_path)
    newly = _route(report, "faq")["newly_auto_approved"]
    # The replay auto-approves exactly the items the suggestion counted, no others.
    assert newly["decided_by_people"] == earned["evidence"]["items"]
    assert newly["approved"] == earned["evidence"]["approved_unchanged"]
    assert newly["rejected"] + newly["edited"] == (
        earned["evidence"]["items"] - earned["evidence"]["approved_unchanged"]
    )
    assert [r["name"] for r in report["routes"] if r["newly_auto_approved"]["items"]] == ["faq"]

    owner = _suggestion(document, "change_owner", "contracts")
    assert yaml.safe_load(owner["rules_change"]) == {
        "routes": [{"name": "contracts", "owner": {"users": ["U0ERIN", "U0LEGALLEAD"]}}]
    }
    assert run_cli("rules", "check", owner["proposal_file"], cwd=tmp_path).returncode == 0
    assert "--since 2026-11-09 --until 2026-11-16" in owner["replay_command"]
    report = _replay(owner["replay_command"], env, tmp_path)
    with db.read() as session:
        contracts = [
            item
            for item in session.exec(select(ReviewItem))
            if item.workflow == "contract-review" and WEEK.since <= item.created_at < WEEK.until
        ]
    lead = next(r for r in report["reviewers"] if r["who"] == "U0LEGALLEAD")
    assert lead["new"] == len(contracts) > lead["old"]  # an owner now sees every item

    rising = next(s for s in document["suggestions"] if s["kind"] == "rejections_rising")
    assert rising["rules_change"] is rising["replay_command"] is rising["proposal_file"] is None
    written = sorted(path.name for path in (tmp_path / "proposals").iterdir())
    assert written == ["auto_approve_earned-faq.yml", "change_owner-contracts.yml"]

    # Slack shows the snippet and the command too.
    slack = _slack_text(Digest.model_validate(document))
    assert "auto_approve_at: " in slack
    assert earned["replay_command"] in slack


def test_without_proposals_the_command_names_a_placeholder_and_says_to_apply_the_snippet(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    generate_history(db, week_start=WEEK.since, weeks=4)
    done = run_cli("digest", "--week", "2026-W46", env=_env(database_url, tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "  ```yaml\n  routes:\n    - name: faq\n      auto_approve_at: 0." in text
    assert "Apply the change to a copy of your rules file" in text
    assert (
        "  hitl rules replay auto_approve_earned-faq.yml --since 2026-10-19 --until 2026-11-16"
        in text
    )
    assert not (tmp_path / "auto_approve_earned-faq.yml").exists()


def test_a_threshold_too_low_is_raised_and_the_proposed_file_is_valid(db: Database) -> None:
    generate_history(db, week_start=WEEK.since, weeks=4, planted=())
    with db.write() as session:
        auto = session.exec(
            select(ReviewItem).where(ReviewItem.status == Status.AUTO_APPROVED)
        ).all()
        for n, item in enumerate(auto):  # a reviewer finds every third one wrong
            session.add(
                SpotCheck(
                    item_id=item.id,
                    user_id="U0ALICE",
                    verdict="wrong" if n % 3 == 0 else "ok",
                    at=item.created_at + timedelta(hours=1),
                )
            )
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)
    too_low = next(s for s in digest.suggestions if s.kind == "auto_approve_too_low")
    assert too_low.rules_change is not None
    change = yaml.safe_load(too_low.rules_change)
    assert change == {"routes": [{"name": "invoices", "auto_approve_at": 1.0}]}  # 0.97 + 0.05
    proposed = load_rules_text(apply_rules_change(HISTORY_RULES, too_low.rules_change)).rules
    invoices = proposed.route_named("invoices")
    assert invoices is not None and invoices.auto_approve_at == 1.0
    assert proposed.routes[1:] == RULES.routes[1:]  # the other routes are untouched


def _alert(workflow: str, detected_at: datetime, **overrides: Any) -> DriftAlert:
    fields: dict[str, Any] = {
        "id": f"al_{workflow}",
        "workflow": workflow,
        "metric": "rejection",
        "dimension": "model",
        "value": "gpt-x",
        "status": AlertStatus.OPEN,
        "began_at": detected_at - timedelta(hours=5),
        "detected_at": detected_at,
        "baseline_rate": 0.05,
        "baseline_decided": 400,
        "recent_rate": 0.4,
        "recent_decided": 30,
        "recent_events": 12,
        "statistic": 9.5,
        "threshold": 5.0,
        "evidence": [],
        "examples": [],
    }
    return DriftAlert(**(fields | overrides))


def test_only_the_periods_drift_alerts_are_listed(db: Database) -> None:
    quiet = build_digest(db, RULES, WEEK, now=WEEK.until)
    assert quiet.drift_alerts == []
    assert "## Drift alerts\n\nNo drift alerts this week.\n" in markdown.render(quiet)
    with db.write() as session:
        session.add(_alert("drift-before", WEEK.since - timedelta(seconds=1)))
        session.add(_alert("drift-first", WEEK.since))
        session.add(
            _alert(
                "drift-inside",
                WEEK.since + timedelta(days=3),
                metric="edit",
                dimension="overall",
                value=None,
                status=AlertStatus.CLOSED,
                closed_at=WEEK.since + timedelta(days=4),
            )
        )
        session.add(_alert("drift-after", WEEK.until))
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)

    document = json.loads(digest.model_dump_json())
    jsonschema.validate(document, SCHEMA)
    assert [a["workflow"] for a in document["drift_alerts"]] == ["drift-first", "drift-inside"]
    first = document["drift_alerts"][0]
    assert first == {
        "id": "al_drift-first",
        "workflow": "drift-first",
        "metric": "rejection",
        "dimension": "model",
        "value": "gpt-x",
        "began_at": (WEEK.since - timedelta(hours=5)).isoformat().replace("+00:00", "Z"),
        "detected_at": WEEK.since.isoformat().replace("+00:00", "Z"),
        "baseline_rate": 0.05,
        "recent_rate": 0.4,
        "status": "open",
    }
    assert document["drift_alerts"][1]["status"] == "closed"

    text = markdown.render(digest)
    section = text[text.index("## Drift alerts") : text.index("## Figures")]
    assert "**drift-first**: rejection rate 5% → 40% (model gpt-x)" in section
    assert "**drift-inside**: edit rate 5% → 40%, rising since" in section
    assert "No drift alerts" not in section
    slack = _slack_text(digest)
    for shown in (text, slack):
        assert "drift-first" in shown and "drift-inside" in shown
        assert "drift-before" not in shown and "drift-after" not in shown


def test_the_fields_reviewers_keep_changing_are_in_the_slack_digest(db: Database) -> None:
    refund = {"order_id": "8812", "amount": 40.0, "notify_customer": True}
    for n in range(10):
        at = WEEK.since + timedelta(hours=1 + n)
        new = reviews.NewItem(
            agent="refund-bot", workflow="refunds", title=f"Refund {n}", output=refund,
            confidence=0.6,
        )  # fmt: skip
        routing = reviews.Routing(
            route="refunds",
            route_snapshot={"name": "refunds", "owner": {"channel": "C0REFUNDS"}},
            rules_version="v1",
            channel="C0REFUNDS",
            auto_approved=False,
            post_to_slack=False,
        )
        item = reviews.create_item(db, new, routing, now=at).item
        final = refund | {"amount": 4.0} if n < 8 else refund | {"notify_customer": False}
        reviews.approve(
            db, item.id, by="U0ALICE", source="slack", now=at, required=lambda _: 1,
            edited_output=final,
        )  # fmt: skip
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)
    assert [(e.field, e.items) for e in digest.recurring_field_edits] == [("amount", 8)]
    slack = _slack_text(digest)
    assert "Fields reviewers keep changing" in slack
    assert "*refunds*: `amount` corrected in 8 of 10 edits (typical: 40 → 4)" in slack


@pytest.mark.parametrize("route_owners", [["U0ERIN"], []])
def test_an_owner_change_never_narrows_who_may_decide(route_owners: list[str]) -> None:
    """With no owners listed the whole channel may decide; listing the decider would take
    that right from everyone else, so the first step gets longer instead."""
    from digest.model import EscalatedOwner, Period
    from digest.suggestions import owner_changes

    rules_text = HISTORY_RULES.replace(
        "owner: {channel: C0LEGAL, users: [U0ERIN]}",
        f"owner: {{channel: C0LEGAL, users: [{', '.join(route_owners)}]}}",
    )
    rules = load_rules_text(rules_text).rules
    escalated = EscalatedOwner(
        route="contracts",
        owners=route_owners,
        channel="C0LEGAL",
        items_with_deadline=20,
        escalated=18,
        share=0.9,
        waiting_hours=30.0,
        decided_by_escalation={"U0LEGALLEAD": 17},
    )
    period = Period.model_validate(WEEK.model_dump())
    [suggestion] = owner_changes([escalated], rules, period)
    assert suggestion.rules_change is not None
    change = yaml.safe_load(suggestion.rules_change)["routes"][0]
    if route_owners:
        assert change == {"name": "contracts", "owner": {"users": ["U0ERIN", "U0LEGALLEAD"]}}
    else:
        assert change == {
            "name": "contracts",
            "escalation": [{"after": "2h", "to": ["U0LEGALLEAD"]}],
        }
    proposed = load_rules_text(apply_rules_change(rules_text, suggestion.rules_change)).rules
    assert proposed.route_named("contracts") != rules.route_named("contracts")


def test_a_proposal_keeps_everything_else_of_a_rules_file_with_hours_and_holidays() -> None:
    example = (Path(__file__).resolve().parent.parent / "rules.example.yml").read_text()
    proposed = apply_rules_change(
        example, "routes:\n  - name: invoices\n    auto_approve_at: 0.9\n", note="a note"
    )
    assert proposed.startswith("# a note\n")
    before, after = load_rules_text(example).rules, load_rules_text(proposed).rules
    assert after.model_dump(exclude={"routes"}) == before.model_dump(exclude={"routes"})
    invoices = after.route_named("invoices")
    assert invoices is not None and invoices.auto_approve_at == 0.9
    assert invoices.model_copy(update={"auto_approve_at": 0.97}) == before.route_named("invoices")
    assert after.routes[1:] == before.routes[1:]
    with pytest.raises(ValueError, match="no route named 'billing'"):
        apply_rules_change(example, "routes:\n  - name: billing\n    auto_approve_at: 0.9\n")

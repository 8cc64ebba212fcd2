"""`hours`, `timezone`, `holidays`, `remind` and user groups in the rules file: what
`hitl rules check` accepts, and what it refuses, each problem at its line and column."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from rules import RuleIssue, RulesError, load_rules_text
from rules.schema import Route
from tests.conftest import run_cli
from tests.test_rules_loader import position

GOOD = """\
timezone: Europe/Berlin
routes:
  - name: ap
    match: {workflow: ap}
    owner: {channel: C0AP, users: [U0ALICE]}
    hours: {days: mon-fri, from: "09:00", to: "18:00"}
    holidays: [2026-12-24, 2026-12-25]
    remind: 30m
    escalation:
      - {after: 30m, to: [U0MANAGER, S0FINLEADS], remind: 10m}
  - name: night
    match: {workflow: night}
    owner: {channel: C0NIGHT}
    hours: {days: sun-thu, from: "00:00", to: "06:00"}
    timezone: America/New_York
"""


def issues_of(text: str) -> list[RuleIssue]:
    with pytest.raises(RulesError) as caught:
        load_rules_text(text, file="rules.yml")
    return caught.value.issues


def test_a_calendar_loads_and_is_frozen_whole_into_the_route() -> None:
    rules = load_rules_text(GOOD).rules
    ap, night = rules.routes
    assert ap.timezone == "Europe/Berlin"  # written in from the file's zone
    assert night.timezone == "America/New_York"
    assert ap.holidays == [date(2026, 12, 24), date(2026, 12, 25)]
    assert ap.remind == timedelta(minutes=30)
    assert ap.escalation[0].to == ["U0MANAGER", "S0FINLEADS"]
    assert ap.escalation[0].remind == timedelta(minutes=10)
    snapshot = ap.model_dump(mode="json")
    assert snapshot["hours"] == {"days": "mon-fri", "from": "09:00", "to": "18:00"}
    assert Route.model_validate(snapshot) == ap  # an item reads back the same calendar
    calendar = ap.calendar()
    assert calendar is not None and calendar.timezone == "Europe/Berlin"


BAD = """\
timezone: Europe/Berlin
routes:
  - name: shift
    match: {workflow: shift}
    owner: {channel: C0AP}
    hours: {days: mon-fri, from: "22:00", to: "06:00"}
    remind: 0m
    escalation:
      - {after: 30m, to: [S0lower, alice], remind: 5}
  - name: typo
    match: {workflow: typo}
    owner: {channel: C0AP}
    hours: {days: mon-fry, from: 9:00, to: "24:00", form: "09:00"}
    timezone: Europe/Berln
    holidays: [2026-12-25, 2026-12-25]
  - name: no-hours
    match: {workflow: no-hours}
    owner: {channel: C0AP}
    holidays: [2026-12-25]
"""


def test_rules_check_refuses_each_calendar_mistake_at_its_place() -> None:
    found = {(issue.location, issue.line, issue.column): issue.message for issue in issues_of(BAD)}

    def at(location: str, needle: str) -> str:
        line, column = position(BAD, needle)
        return found[(location, line, column)]

    assert "cross midnight" in at("routes[0].hours.to", '"06:00"')
    assert "zero" in at("routes[0].remind", "0m\n")
    assert "user group ID like S0123ABCD" in at("routes[0].escalation[0].to[0]", "S0lower")
    assert "user ID" in at("routes[0].escalation[0].to[1]", "alice")
    assert "unit" in at("routes[0].escalation[0].remind", "5}")
    assert "unknown weekday 'fry'" in at("routes[1].hours.days", "mon-fry")
    assert "quotes" in at("routes[1].hours.from", "9:00,")
    assert "not a time of day" in at("routes[1].hours.to", '"24:00"')
    assert "did you mean 'from'" in at("routes[1].hours.form", "form")
    assert "did you mean 'Europe/Berlin'" in at("routes[1].timezone", "Europe/Berln")
    line, _ = position(BAD, "[2026-12-25, 2026-12-25]")
    assert any(
        location == "routes[1].holidays[1]" and at_line == line and "twice" in message
        for (location, at_line, _column), message in found.items()
    )
    assert "add `hours:`" in at("routes[2].holidays", "[2026-12-25]\n")


def test_hitl_rules_check_prints_the_midnight_refusal_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(BAD)
    done = run_cli("rules", "check", str(rules))
    assert done.returncode == 1
    line, column = position(BAD, '"06:00"')
    assert f"rules.yml:{line}:{column}: routes[0].hours.to: working hours from 22:00 to 06:00" in (
        done.stdout + done.stderr
    )


def test_the_example_rules_show_hours_groups_and_reminders() -> None:
    example = Path(__file__).resolve().parents[1] / "rules.example.yml"
    route = load_rules_text(example.read_text()).rules.routes[0]
    assert route.hours is not None and route.holidays and route.remind
    assert any(target.startswith("S") for step in route.escalation for target in step.to)

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from rules import RuleIssue, RulesError, check_rules, load_rules, load_rules_text

# The example of SPEC.md's "Rules file" section, verbatim.
SPEC_EXAMPLE = """\
timezone: Europe/Berlin
digest:
  channel: C0OPSREVIEW        # where the weekly digest is posted
  schedule: "mon 09:00"       # weekday and time, in `timezone`
routes:                       # first match wins
  - name: invoices
    match:
      workflow: ap-invoices   # exact name or glob
      agent: "*"              # optional
    auto_approve_at: 0.97     # optional: confidence at or above this is approved without a person
    owner:
      channel: C0APREVIEW     # where items are posted
      users: [U0ALICE, U0BOB] # who may decide; empty or missing: anyone in the channel
    escalation:               # optional chain; each step waits `after` from the previous one
      - after: 30m
        to: [U0MANAGER]       # notified and allowed to decide from then on
        channel: C0ESCALATIONS  # optional: where the escalation is posted (default: DM)
      - after: 2h
        to: [U0DIRECTOR]
    repeat: 0                 # optional: run the last step this many more times
    on_exhausted: expire      # expire | reject | keep, once the last step has waited
    reject_reasons: [wrong_amount, wrong_vendor, duplicate, other]
    approvals_required: 1     # optional: distinct approvers needed (four-eyes: 2)
    audit_sample: 0.05        # optional: share of auto-approved items still posted for a spot check
"""

EXAMPLE_FILE = Path(__file__).resolve().parents[1] / "rules.example.yml"

VALID_ROUTE = """\
  - name: {name}
    match:
      workflow: {workflow}
    owner:
      channel: C0REVIEW
"""


def position(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the only occurrence of ``needle`` in ``text``."""
    assert text.count(needle) == 1, f"{needle!r} must occur once"
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def issues_of(text: str) -> list[RuleIssue]:
    with pytest.raises(RulesError) as caught:
        load_rules_text(text, file="rules.yml")
    return caught.value.issues


def issue_at(issues: list[RuleIssue], location: str) -> RuleIssue:
    found = [issue for issue in issues if issue.location == location]
    assert len(found) == 1, [str(issue) for issue in issues]
    return found[0]


def test_spec_example_loads_with_every_value() -> None:
    loaded = load_rules_text(SPEC_EXAMPLE, file="rules.yml")
    rules = loaded.rules
    assert rules.timezone == "Europe/Berlin"
    assert rules.digest is not None
    assert rules.digest.channel == "C0OPSREVIEW"
    assert (rules.digest.weekday, rules.digest.hour, rules.digest.minute) == (0, 9, 0)
    (route,) = rules.routes
    assert route.name == "invoices"
    assert (route.match.workflow, route.match.agent) == ("ap-invoices", "*")
    assert route.auto_approve_at == 0.97
    assert route.owner.channel == "C0APREVIEW"
    assert route.owner.users == ["U0ALICE", "U0BOB"]
    assert [step.after for step in route.escalation] == [timedelta(minutes=30), timedelta(hours=2)]
    assert [step.to for step in route.escalation] == [["U0MANAGER"], ["U0DIRECTOR"]]
    assert [step.channel for step in route.escalation] == ["C0ESCALATIONS", None]
    assert (route.repeat, route.on_exhausted) == (0, "expire")
    assert route.reject_reasons == ["wrong_amount", "wrong_vendor", "duplicate", "other"]
    assert (route.approvals_required, route.audit_sample) == (1, 0.05)
    assert rules.fallback is None
    assert loaded.version == hashlib.sha256(SPEC_EXAMPLE.encode()).hexdigest()[:16]
    assert loaded.path == "rules.yml"


def test_shipped_example_file_is_valid() -> None:
    loaded = load_rules(EXAMPLE_FILE)
    assert loaded.rules.routes[0].name == "invoices"
    assert check_rules(EXAMPLE_FILE) == []


def test_load_from_path_versions_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(SPEC_EXAMPLE)
    first = load_rules(path)
    assert first.version == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert len(first.version) == 16
    assert first.path == str(path)

    path.write_text(SPEC_EXAMPLE.replace("0.97", "0.98"))
    second = load_rules(path)
    assert second.version != first.version
    assert second.rules.routes[0].auto_approve_at == 0.98


@pytest.mark.parametrize(
    ("old", "new", "location", "needle", "says"),
    [
        pytest.param(
            "    owner:\n",
            "    ownr:\n",
            "routes[0].ownr",
            "ownr:",
            "did you mean 'owner'",
            id="typo-key",
        ),
        pytest.param(
            "channel: C0APREVIEW",
            "channel: c0apreview",
            "routes[0].owner.channel",
            "c0apreview",
            "must be a Slack channel ID like C0123ABCD",
            id="bad-channel",
        ),
        pytest.param(
            "after: 2h",
            "after: 2x",
            "routes[0].escalation[1].after",
            "2x",
            "unknown unit 'x'",
            id="bad-duration",
        ),
        pytest.param(
            "auto_approve_at: 0.97",
            "auto_approve_at: 1.5",
            "routes[0].auto_approve_at",
            "1.5",
            "less than or equal to 1 (got 1.5)",
            id="threshold-above-one",
        ),
        pytest.param(
            "timezone: Europe/Berlin",
            "timezone: Europe/Berln",
            "timezone",
            "Europe/Berln",
            "did you mean 'Europe/Berlin'",
            id="bad-timezone",
        ),
        pytest.param(
            "to: [U0MANAGER]",
            "to: [U0MANAGER, alice]",
            "routes[0].escalation[0].to[1]",
            "alice",
            "must be a Slack user ID",
            id="bad-escalation-user",
        ),
        pytest.param(
            '"mon 09:00"',
            '"mon 9am"',
            "digest.schedule",
            '"mon 9am"',
            "24-hour time",
            id="bad-schedule",
        ),
        pytest.param(
            "approvals_required: 1",
            "approvals_required: 3",
            "routes[0].approvals_required",
            "3     #",
            "lists only 2",
            id="too-few-approvers",
        ),
        pytest.param(
            "on_exhausted: expire",
            "on_exhausted: drop",
            "routes[0].on_exhausted",
            "drop",
            "'expire', 'reject' or 'keep'",
            id="bad-on-exhausted",
        ),
    ],
)
def test_each_error_names_its_line_column_and_location(
    old: str, new: str, location: str, needle: str, says: str
) -> None:
    text = SPEC_EXAMPLE.replace(old, new)
    assert text != SPEC_EXAMPLE
    issue = issue_at(issues_of(text), location)
    assert (issue.line, issue.column) == position(text, needle)
    assert says in issue.message
    assert str(issue) == f"rules.yml:{issue.line}:{issue.column}: {location}: {issue.message}"


def test_missing_key_points_at_its_parent() -> None:
    text = SPEC_EXAMPLE.replace("      channel: C0APREVIEW     # where items are posted\n", "")
    issue = issue_at(issues_of(text), "routes[0].owner.channel")
    assert issue.message == "is required"
    assert (issue.line, issue.column) == position(text, "users: [U0ALICE")


def test_duplicate_route_names_point_at_the_second() -> None:
    text = SPEC_EXAMPLE + VALID_ROUTE.format(name="invoices", workflow="support")
    issue = issue_at(issues_of(text), "routes[1].name")
    assert "already used by routes[0]" in issue.message
    assert (issue.line, issue.column) == position(
        text, "invoices\n    match:\n      workflow: support"
    )


def test_unknown_fallback() -> None:
    text = SPEC_EXAMPLE + "fallback: catch-all\n"
    issue = issue_at(issues_of(text), "fallback")
    assert "must name one of the routes (invoices)" in issue.message
    assert (issue.line, issue.column) == position(text, "catch-all")


def test_known_fallback_loads() -> None:
    text = SPEC_EXAMPLE + VALID_ROUTE.format(name="rest", workflow="x") + "fallback: rest\n"
    assert load_rules_text(text).rules.fallback == "rest"


def test_yaml_syntax_error_reports_its_line() -> None:
    text = SPEC_EXAMPLE.replace("    repeat: 0", "    repeat: [0")
    (issue,) = issues_of(text)
    assert issue.location == ""
    assert issue.message.startswith("YAML syntax error")
    assert issue.line is not None and issue.line >= position(text, "repeat: [0")[0]
    assert issue.line <= position(text, "on_exhausted")[0]


def test_bad_indentation_reports_the_offending_line() -> None:
    text = "routes:\n  - name: a\n    match: {workflow: x}\n   owner: {channel: C0X}\n"
    (issue,) = issues_of(text)
    assert issue.line == 4
    assert str(issue).startswith("rules.yml:4:")


def test_key_written_twice_is_an_error() -> None:
    text = SPEC_EXAMPLE.replace("    repeat: 0", "    repeat: 0\n    repeat: 1")
    issue = issue_at(issues_of(text), "routes[0].repeat")
    assert "written twice" in issue.message
    assert (issue.line, issue.column) == position(text, "repeat: 1")


def test_every_error_in_a_file_is_reported_in_reading_order() -> None:
    text = """\
timezone: Nowhere/Special
routes:
  - name: a
    match: {workflow: ap, agnt: bot}
    auto_approve_at: 2
    owner: {channel: C0OK, users: [U0A]}
    escalation:
      - after: soon
        to: [U0M]
  - name: a
    match: {workflow: support}
    owner: {channel: "#support"}
fallback: nowhere
"""
    issues = issues_of(text)
    assert [issue.location for issue in issues] == [
        "timezone",
        "routes[0].match.agnt",
        "routes[0].auto_approve_at",
        "routes[0].escalation[0].after",
        "routes[1].name",
        "routes[1].owner.channel",
        "fallback",
    ]
    assert [issue.line for issue in issues] == [1, 4, 5, 8, 10, 12, 13]
    error_text = str(RulesError(issues))
    assert error_text.splitlines() == [str(issue) for issue in issues]


def test_unsafe_yaml_tags_are_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"routes: !!python/object/apply:os.system ['touch {marker}']\n"
    (issue,) = issues_of(text)
    assert issue.line == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("just text\n", "top level must be a mapping"),
    ],
)
def test_files_without_a_mapping(text: str, says: str) -> None:
    (issue,) = issues_of(text)
    assert says in issue.message


def test_no_routes() -> None:
    issue = issue_at(issues_of("timezone: UTC\n"), "routes")
    assert issue.message == "is required"
    assert issue.line == 1


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    (issue,) = caught.value.issues
    assert (issue.line, issue.column, issue.location) == (None, None, "")
    assert str(issue) == f"{path}: file not found"
    assert check_rules(path) == caught.value.issues


def test_directory_and_binary_files_are_reported(tmp_path: Path) -> None:
    assert "directory" in check_rules(tmp_path)[0].message
    binary = tmp_path / "rules.yml"
    binary.write_bytes(b"routes: \xff\xfe\n")
    assert "UTF-8" in check_rules(binary)[0].message


def test_check_rules_lists_issues_or_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(SPEC_EXAMPLE)
    assert check_rules(good) == []
    bad = tmp_path / "bad.yml"
    bad.write_text(SPEC_EXAMPLE.replace("C0APREVIEW", "nope").replace("30m", "30"))
    assert {issue.location for issue in check_rules(bad)} == {
        "routes[0].owner.channel",
        "routes[0].escalation[0].after",
    }
    assert all(issue.file == str(bad) for issue in check_rules(bad))


def test_issue_text_without_a_position() -> None:
    issue = RuleIssue(file="rules.yml", line=None, column=None, location="routes", message="x")
    assert str(issue) == "rules.yml: routes: x"
    assert str(RuleIssue("rules.yml", 3, None, "", "bad")) == "rules.yml:3: bad"


def test_error_in_a_repeated_key_points_at_the_value_that_counts() -> None:
    text = SPEC_EXAMPLE.replace(
        "      channel: C0APREVIEW ", "      channel: C0APREVIEW\n      channel: nope "
    )
    issues = issues_of(text)
    assert {issue.location for issue in issues} == {"routes[0].owner.channel"}
    assert any("written twice" in issue.message for issue in issues)
    channel_errors = [issue for issue in issues if "channel ID" in issue.message]
    assert [(issue.line, issue.column) for issue in channel_errors] == [position(text, "nope")]


def test_yaml_anchors_and_merge_keys_are_followed() -> None:
    text = """\
routes:
  - &base
    name: a
    match: {workflow: ap}
    owner: {channel: C0OK}
    repeat: -1
  - <<: *base
    name: b
    match: {workflow: support}
"""
    issues = issues_of(text)
    assert {issue.location for issue in issues} == {"routes[0].repeat", "routes[1].repeat"}
    # The merged value lives where the anchor was written.
    assert {issue.line for issue in issues} == {position(text, "-1")[0]}

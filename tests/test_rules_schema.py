from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from rules import DigestConfig, Route, RulesFile


def route_data(**extra: Any) -> dict[str, Any]:
    return {
        "name": "invoices",
        "match": {"workflow": "ap-invoices"},
        "owner": {"channel": "C0APREVIEW"},
        **extra,
    }


FULL_ROUTE = route_data(
    match={"workflow": "ap-*", "agent": "invoice-bot"},
    auto_approve_at=0.97,
    owner={"channel": "C0APREVIEW", "users": ["U0ALICE", "U0BOB"]},
    escalation=[
        {"after": "30m", "to": ["U0MANAGER"], "channel": "C0ESCALATIONS"},
        {"after": "1h30m", "to": ["U0DIRECTOR", "W0ENTERPRISE"]},
    ],
    repeat=2,
    on_exhausted="reject",
    reject_reasons=["wrong_amount", "other"],
    approvals_required=2,
    audit_sample=0.05,
)


def errors_of(data: dict[str, Any], model: type[BaseModel] = Route) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {tuple(error["loc"]): error["msg"] for error in caught.value.errors()}


def test_route_snapshot_round_trips_through_json() -> None:
    route = Route.model_validate(FULL_ROUTE)
    snapshot = route.model_dump(mode="json")
    assert snapshot["escalation"][1]["after"] == "1h30m"  # readable in the database
    assert Route.model_validate(snapshot) == route
    assert Route.model_validate_json(route.model_dump_json()) == route


def test_python_dump_keeps_timedeltas_and_round_trips() -> None:
    route = Route.model_validate(FULL_ROUTE)
    assert route.escalation[0].after == timedelta(minutes=30)
    assert route.model_dump()["escalation"][0]["after"] == timedelta(minutes=30)
    assert Route.model_validate(route.model_dump()) == route


def test_route_defaults() -> None:
    route = Route.model_validate(route_data())
    assert route.match.agent == "*"
    assert route.auto_approve_at is None
    assert route.owner.users == []
    assert route.escalation == []
    assert route.repeat == 0
    assert route.on_exhausted == "expire"
    assert route.reject_reasons == ["other"]
    assert route.approvals_required == 1
    assert route.audit_sample == 0.0


def test_models_are_frozen() -> None:
    route = Route.model_validate(route_data())
    with pytest.raises(ValidationError):
        route.name = "renamed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("extra", "loc", "says"),
    [
        ({"auto_approve_at": 0}, ("auto_approve_at",), "greater than 0"),
        ({"auto_approve_at": True}, ("auto_approve_at",), "valid number"),
        ({"audit_sample": 1.01}, ("audit_sample",), "less than or equal to 1"),
        ({"repeat": -1}, ("repeat",), "greater than or equal to 0"),
        ({"approvals_required": 0}, ("approvals_required",), "greater than or equal to 1"),
        ({"on_exhausted": "drop"}, ("on_exhausted",), "'expire', 'reject' or 'keep'"),
        ({"reject_reasons": []}, ("reject_reasons",), "at least 1"),
        ({"reject_reasons": ["a", "b", "a"]}, ("reject_reasons", 2), "listed twice"),
        ({"reject_reasons": ["x" * 76]}, ("reject_reasons", 0), "at most 75"),
        ({"reject_reasons": ["Wrong Amount"]}, ("reject_reasons", 0), "slug"),
        ({"match": {"workflow": ""}}, ("match", "workflow"), "at least 1"),
        ({"owner": {"channel": "D0DIRECT"}}, ("owner", "channel"), "channel ID"),
        ({"owner": {"channel": "C0X", "users": ["U0A", "U0A"]}}, ("owner", "users", 1), "twice"),
        ({"owner": {"channel": "C0X", "users": ["B0BOT"]}}, ("owner", "users", 0), "user ID"),
        ({"escalation": [{"after": "30m", "to": []}]}, ("escalation", 0, "to"), "at least 1"),
        ({"escalation": [{"after": 90, "to": ["U0M"]}]}, ("escalation", 0, "after"), "unit"),
        ({"escalation": [{"after": "0s", "to": ["U0M"]}]}, ("escalation", 0, "after"), "zero"),
        ({"repeat": 1}, ("repeat",), "no escalation"),
        (
            {"owner": {"channel": "C0X", "users": ["U0A"]}, "approvals_required": 2},
            ("approvals_required",),
            "lists only 1",
        ),
        ({"colour": "red"}, ("colour",), "Extra inputs"),
    ],
)
def test_route_rejects(extra: dict[str, Any], loc: tuple[Any, ...], says: str) -> None:
    errors = errors_of(route_data(**extra))
    assert loc in errors, errors
    assert says in errors[loc]


def test_four_eyes_without_listed_users_is_allowed() -> None:
    # Anyone in the channel may approve, so two distinct approvers can always be found.
    assert Route.model_validate(route_data(approvals_required=2)).approvals_required == 2


def test_private_channels_and_enterprise_users_are_accepted() -> None:
    route = Route.model_validate(route_data(owner={"channel": "G0PRIVATE", "users": ["W0ORG"]}))
    assert route.owner.channel == "G0PRIVATE"


@pytest.mark.parametrize(
    ("schedule", "weekday", "hour", "minute", "canonical"),
    [
        ("mon 09:00", 0, 9, 0, "mon 09:00"),
        ("fri 17:30", 4, 17, 30, "fri 17:30"),
        ("Sunday 7:05", 6, 7, 5, "sun 07:05"),
        ("wed 00:00", 2, 0, 0, "wed 00:00"),
        ("sat 23:59", 5, 23, 59, "sat 23:59"),
    ],
)
def test_digest_schedule_is_parsed(
    schedule: str, weekday: int, hour: int, minute: int, canonical: str
) -> None:
    digest = DigestConfig.model_validate({"channel": "C0OPS", "schedule": schedule})
    assert (digest.weekday, digest.hour, digest.minute) == (weekday, hour, minute)
    assert digest.schedule == canonical


def test_digest_schedule_defaults_to_monday_morning() -> None:
    digest = DigestConfig.model_validate({"channel": "C0OPS"})
    assert (digest.weekday, digest.hour, digest.minute) == (0, 9, 0)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("mon", "weekday and a 24-hour time"),
        ("someday 09:00", "unknown weekday"),
        ("mon 24:00", "not a time of day"),
        ("mon 09:60", "not a time of day"),
        ("mon 9am", "weekday and a 24-hour time"),
    ],
)
def test_digest_schedule_rejects(schedule: str, says: str) -> None:
    errors = errors_of({"channel": "C0OPS", "schedule": schedule}, DigestConfig)
    assert says in errors[("schedule",)]


def test_rules_file_checks_hold_without_the_loader() -> None:
    # Cross-route checks live in the schema, so any caller of model_validate gets them.
    errors = errors_of(
        {
            "timezone": "Mars/Olympus",
            "routes": [route_data(), route_data(match={"workflow": "other"})],
            "fallback": "missing",
        },
        RulesFile,
    )
    assert "IANA" in errors[("timezone",)]
    assert "already used by routes[0]" in errors[("routes", 1, "name")]
    assert "must name one of the routes (invoices)" in errors[("fallback",)]


def test_rules_file_needs_a_route() -> None:
    assert ("routes",) in errors_of({"routes": []}, RulesFile)
    assert ("routes",) in errors_of({}, RulesFile)


def test_route_shadowed_by_an_earlier_catch_all_is_an_error() -> None:
    errors = errors_of(
        {
            "routes": [
                route_data(name="everything", match={"workflow": "*"}),
                route_data(name="never", match={"workflow": "ap-invoices", "agent": "bot"}),
            ]
        },
        RulesFile,
    )
    assert "can never match" in errors[("routes", 1, "match")]


def test_same_workflow_for_different_agents_is_fine() -> None:
    rules = RulesFile.model_validate(
        {
            "routes": [
                route_data(name="bot", match={"workflow": "ap", "agent": "bot"}),
                route_data(name="rest", match={"workflow": "ap"}),
            ]
        }
    )
    assert [route.name for route in rules.routes] == ["bot", "rest"]


def test_rules_file_defaults_and_helpers() -> None:
    rules = RulesFile.model_validate({"routes": [route_data()]})
    assert rules.timezone == "UTC"
    assert rules.digest is None
    assert rules.fallback is None
    assert str(rules.tzinfo) == "UTC"
    assert rules.route_named("invoices") is rules.routes[0]
    assert rules.route_named("nope") is None

from typing import Any

import pytest

from rules import RulesFile, match_route, route_item


def route(name: str, workflow: str, agent: str = "*", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"workflow": workflow, "agent": agent},
        "owner": {"channel": "C0REVIEW"},
        **extra,
    }


def rules(*routes: dict[str, Any], fallback: str | None = None) -> RulesFile:
    return RulesFile.model_validate({"routes": list(routes), "fallback": fallback})


def matched_name(rules_file: RulesFile, workflow: str, agent: str) -> str:
    """The name of the route `match_route` picks; failing the test if it picks none."""
    matched = match_route(rules_file, workflow, agent)
    assert matched is not None, f"no route matched workflow {workflow!r}, agent {agent!r}"
    return matched.name


def test_first_matching_route_wins() -> None:
    rules_file = rules(route("exact", "ap-invoices"), route("glob", "ap-*"))
    assert matched_name(rules_file, "ap-invoices", "bot") == "exact"
    assert matched_name(rules_file, "ap-credit-notes", "bot") == "glob"


def test_order_decides_when_both_match() -> None:
    rules_file = rules(route("glob", "ap-*", agent="invoice-bot"), route("exact", "ap-invoices"))
    assert matched_name(rules_file, "ap-invoices", "invoice-bot") == "glob"


def test_agent_glob_must_match_too() -> None:
    rules_file = rules(
        route("from-invoice-bots", "ap-*", agent="invoice-*"),
        route("anyone-else", "ap-*"),
    )
    assert matched_name(rules_file, "ap-invoices", "invoice-bot-2") == "from-invoice-bots"
    assert matched_name(rules_file, "ap-invoices", "mail-bot") == "anyone-else"


def test_glob_character_classes_and_single_characters() -> None:
    rules_file = rules(route("numbered", "batch-[0-9]?"))
    assert match_route(rules_file, "batch-1a", "bot") is not None
    assert match_route(rules_file, "batch-x1", "bot") is None


def test_matching_is_case_sensitive() -> None:
    rules_file = rules(route("ap", "ap-*"))
    assert match_route(rules_file, "AP-invoices", "bot") is None


def test_no_match_and_no_fallback_is_none() -> None:
    rules_file = rules(route("ap", "ap-*"))
    assert match_route(rules_file, "support", "bot") is None
    assert route_item(rules_file, workflow="support", agent="bot", confidence=0.5) is None


def test_fallback_route_takes_what_nothing_matches() -> None:
    rules_file = rules(route("ap", "ap-*"), route("catch-up", "never-used"), fallback="catch-up")
    assert matched_name(rules_file, "support", "bot") == "catch-up"
    decision = route_item(rules_file, workflow="support", agent="bot", confidence=0.5)
    assert decision is not None
    assert decision.route.name == "catch-up"
    assert decision.used_fallback


def test_matching_route_is_not_reported_as_fallback() -> None:
    rules_file = rules(route("ap", "ap-*"), fallback="ap")
    decision = route_item(rules_file, workflow="ap-invoices", agent="bot", confidence=0.5)
    assert decision is not None
    assert not decision.used_fallback


@pytest.mark.parametrize(
    ("confidence", "approved"),
    [(0.97, True), (0.9699999, False), (1.0, True), (0.0, False)],
)
def test_auto_approval_threshold_is_inclusive(confidence: float, approved: bool) -> None:
    rules_file = rules(route("ap", "ap-*", auto_approve_at=0.97))
    decision = route_item(rules_file, workflow="ap-x", agent="bot", confidence=confidence)
    assert decision is not None
    assert decision.auto_approved is approved


def test_without_threshold_nothing_is_auto_approved() -> None:
    rules_file = rules(route("ap", "ap-*"))
    decision = route_item(rules_file, workflow="ap-x", agent="bot", confidence=1.0)
    assert decision is not None
    assert not decision.auto_approved


def test_fallback_route_threshold_applies_too() -> None:
    rules_file = rules(
        route("ap", "ap-*"), route("rest", "x", auto_approve_at=0.5), fallback="rest"
    )
    decision = route_item(rules_file, workflow="other", agent="bot", confidence=0.5)
    assert decision is not None
    assert decision.auto_approved and decision.used_fallback


@pytest.mark.parametrize("confidence", [-0.1, 1.1, float("nan")])
def test_confidence_outside_zero_to_one_is_refused(confidence: float) -> None:
    rules_file = rules(route("ap", "ap-*"))
    with pytest.raises(ValueError, match="confidence"):
        route_item(rules_file, workflow="ap-x", agent="bot", confidence=confidence)

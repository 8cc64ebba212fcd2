"""Routing and escalation policy: the rules file's schema, loading and matching.

Pure policy: nothing here knows about Slack, HTTP or storage.
"""

from rules.durations import format_duration, parse_duration
from rules.loader import (
    LoadedRules,
    RuleIssue,
    RulesError,
    check_rules,
    load_rules,
    load_rules_text,
    rules_version,
)
from rules.matching import RouteDecision, match_route, route_item
from rules.policy import escalation_chain, may_decide
from rules.schedule import WeeklyTime, parse_weekly_time
from rules.schema import (
    DigestConfig,
    EscalationStep,
    Match,
    OnExhausted,
    Owner,
    Route,
    RulesFile,
)

__all__ = [
    "DigestConfig",
    "EscalationStep",
    "LoadedRules",
    "Match",
    "OnExhausted",
    "Owner",
    "Route",
    "RouteDecision",
    "RuleIssue",
    "RulesError",
    "RulesFile",
    "WeeklyTime",
    "check_rules",
    "escalation_chain",
    "format_duration",
    "load_rules",
    "load_rules_text",
    "match_route",
    "may_decide",
    "parse_duration",
    "parse_weekly_time",
    "route_item",
    "rules_version",
]

"""User groups in escalations, at delivery: who is in a group when its step is posted.

`usergroups.users.list` is asked once per group and escalation level (storage.groups
records the answer, so a retried delivery or another replica reuses it). A group Slack
cannot resolve (an error such as `no_such_subteam`, or no members) is never silence: its
escalation goes to the step's channel, else the item's channel, with a warning.
"""

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from storage import groups
from storage.db import Database
from storage.groups import GroupOutcome
from storage.models import ReviewItem

log = logging.getLogger(__name__)

# Answers that mean "try again later", not "this group cannot be resolved".
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})


def members_of(slack: WebClient, group: str) -> GroupOutcome:
    """The group's active members now, or why there are none."""
    try:
        response = slack.usergroups_users_list(usergroup=group, include_disabled=False)
    except SlackApiError as error:
        data = error.response.data if isinstance(error.response.data, dict) else {}
        code = str(data.get("error") or "unknown_error")
        if code in _TRANSIENT:
            raise  # the outbox retries with backoff
        log.warning("user group %s cannot be resolved: %s", group, code)
        return GroupOutcome(group, [], code)
    members = [str(user) for user in response.get("users") or []]
    if not members:
        return GroupOutcome(group, [], "no_members")
    return GroupOutcome(group, list(dict.fromkeys(members)), None)


def fallback_channel(item: ReviewItem, level: int) -> str:
    """Where an unresolvable group's escalation goes: the step's channel, else the item's."""
    entry = next((e for e in item.escalations if e.get("level") == level), {})
    return str(entry.get("channel") or item.channel)


def resolve(
    db: Database,
    slack: WebClient,
    item: ReviewItem,
    level: int,
    *,
    now: datetime,
    only: str | None = None,
) -> list[GroupOutcome]:
    """Resolves and records the groups of escalation `level` (or just `only`, a group
    escalated to by DM, whose members are then each sent it). Returns what is recorded."""
    entry = next((e for e in item.escalations if e.get("level") == level), None)
    if entry is None:
        return []
    outcomes: list[GroupOutcome] = []
    for group in [only] if only else groups.groups_of(entry):
        known = groups.recorded(entry, group)
        if known is None:
            known = groups.record(
                db,
                item.id,
                level,
                members_of(slack, group),
                now=now,
                direct_messages=only is not None,
                fallback_channel=fallback_channel(item, level),
            )
        outcomes.append(known)
    return outcomes

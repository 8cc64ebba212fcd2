"""Slack user groups named in an escalation step (`to: [S…]`): who was in them when the
step fired, recorded on the item (its `escalations` entry and the audit trail), so the
audit says who was asked and those people may decide from then on.

The members are looked up when the escalation is delivered (bot.slack_delivery), the one
place Slack is called; this records the answer once. An entry of `item.escalations` gains
`members: {"S…": ["U…", …]}` for a resolved group and `unresolved: {"S…": "error"}` for
one that could not be (an error, or no members), whose escalation then went to a channel
with a warning instead.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from storage import audit, outbox
from storage.db import Database
from storage.models import ItemMessage, OutboxKind, ReviewItem


def is_group(target: str) -> bool:
    return target.startswith("S")


def escalated_people(item: ReviewItem) -> list[str]:
    """Everyone the item was escalated to: the people named, and the recorded members of
    the groups named."""
    people: list[str] = []
    for entry in item.escalations:
        people += [target for target in entry.get("to", []) if not is_group(target)]
        for members in (entry.get("members") or {}).values():
            people += members
    return people


def groups_of(entry: dict[str, Any]) -> list[str]:
    return [target for target in entry.get("to", []) if is_group(target)]


def recorded(entry: dict[str, Any], group: str) -> "GroupOutcome | None":
    """What was recorded for `group` in an escalations entry, if anything."""
    if group in (entry.get("members") or {}):
        return GroupOutcome(group, list(entry["members"][group]), None)
    if group in (entry.get("unresolved") or {}):
        return GroupOutcome(group, [], str(entry["unresolved"][group]))
    return None


@dataclass(frozen=True)
class GroupOutcome:
    group: str
    members: list[str]  # empty when it could not be resolved
    error: str | None  # why not: a Slack error code, or "no_members"


def record(
    db: Database,
    item_id: str,
    level: int,
    outcome: GroupOutcome,
    *,
    now: datetime,
    direct_messages: bool,
    fallback_channel: str | None = None,
) -> GroupOutcome:
    """Records the group's members (or why there are none) on escalation `level` of the
    item, once: a second call (a retried delivery, another replica) returns what the first
    recorded. With `direct_messages` each member gets the escalation by DM: a message row
    and a post are queued for each, in the same transaction."""
    with db.write() as session:
        item = session.exec(
            select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
        ).one()
        entries = [dict(entry) for entry in item.escalations]
        entry = next((e for e in entries if e.get("level") == level), None)
        if entry is None:
            return outcome
        earlier = recorded(entry, outcome.group)
        if earlier is not None:
            return earlier
        if outcome.error is None:
            entry["members"] = {**(entry.get("members") or {}), outcome.group: outcome.members}
        else:
            entry["unresolved"] = {**(entry.get("unresolved") or {}), outcome.group: outcome.error}
        item.escalations = entries  # a new list, so SQLAlchemy sees the JSON column change
        session.add(item)
        detail: dict[str, Any] = {"level": level, "group": outcome.group}
        if outcome.error is None:
            detail["members"] = outcome.members
        else:
            detail.update(error=outcome.error, fallback_channel=fallback_channel)
        audit.record(
            session,
            item_id=item_id,
            at=now,
            actor="hitl",
            source="worker",
            action="group_resolved" if outcome.error is None else "group_unresolved",
            **detail,
        )
        if direct_messages and outcome.error is None:
            _queue_direct_messages(session, item_id, level, outcome.members, now)
        # Every message of the item shows who was asked (or the warning).
        if item.message_ts is not None:
            outbox.enqueue(session, item_id=item_id, kind=OutboxKind.UPDATE_ITEM, now=now)
        return outcome


def _queue_direct_messages(
    session: Session, item_id: str, level: int, members: list[str], now: datetime
) -> None:
    taken = set(
        session.exec(
            select(ItemMessage.target).where(
                ItemMessage.item_id == item_id, ItemMessage.level == level
            )
        ).all()
    )
    for member in members:
        if member in taken:
            continue  # also named on its own in the step: one message is enough
        message = ItemMessage(item_id=item_id, level=level, target=member, at=now)
        session.add(message)
        session.flush()
        outbox.enqueue(
            session,
            item_id=item_id,
            kind=OutboxKind.POST_ESCALATION,
            now=now,
            payload={"message_id": message.id},
        )

"""Deciding from Slack: the listeners' side of the commands. The change itself is made by
`commands`; this module finds the item a click is about and words the replies."""

import logging
from typing import Any

import commands
from commands.items import escalated_to
from handlers.blocks import slack_date
from handlers.deps import HandlerDeps
from handlers.payloads import Click
from rules import Route
from storage import escalations, reviews
from storage.models import STATUS_WORDS, ItemMessage, ReviewItem, Status
from storage.reviews import DecideResult, Outcome

log = logging.getLogger(__name__)

NO_ITEM = "This item no longer exists."
NOT_ITS_MESSAGE = (
    "This message does not show that item, so the click was not taken. Nothing was changed."
)
UNKNOWN_REASON = "Choose one of the reasons in the list."
NOT_AUTO_APPROVED = "Only auto-approved items are spot-checked."


def route_of(item: ReviewItem) -> Route:
    """The route as it was when the item arrived."""
    return item.frozen_route()


def allowed(item: ReviewItem, user_id: str) -> bool:
    return commands.may_decide_item(item, user_id)


def approve(
    deps: HandlerDeps,
    item_id: str,
    user_id: str,
    *,
    edited_output: str | dict[str, Any] | None = None,
) -> DecideResult:
    """An approval (or an edit, which approves the new text); four-eyes routes count them."""
    return commands.approve(
        deps.db,
        item_id,
        by=user_id,
        source="slack",
        now=deps.now(),
        events=deps.events,
        edited_output=edited_output,
    )


def check_can_open(
    deps: HandlerDeps, item_id: str, user_id: str
) -> tuple[ReviewItem | None, str | None]:
    """Before opening a modal: the item, or why this user cannot decide it."""
    item = reviews.get_item(deps.db, item_id)
    if item is None:
        return None, NO_ITEM
    if item.status != Status.PENDING:
        return None, already_decided_text(
            DecideResult(Outcome.ALREADY_DECIDED, item, reviews.get_decision(deps.db, item_id))
        )
    if not allowed(item, user_id):
        return None, refusal_text(item)
    return item, None


def refusal_text(item: ReviewItem, to: str = "decide") -> str:
    route = route_of(item)
    who = ", ".join(f"<@{user}>" for user in [*route.owner.users, *escalated_to(item)])
    return (
        f"You can't {to} this item: route *{route.name}* is decided by {who}. Nothing was changed."
    )


def already_decided_text(result: DecideResult) -> str:
    item, decision = result.item, result.decision
    if item is None:
        return NO_ITEM
    if decision is None:
        return f"This item is already {STATUS_WORDS[item.status]}."
    who = f"<@{decision.by}>" if decision.source == "slack" else decision.by
    verb = STATUS_WORDS[item.status]
    return f"Already {verb} by {who} {slack_date(decision.at)}. Your action was not recorded."


def outcome_message(result: DecideResult, user_id: str) -> str | None:
    """What to tell the user whose action did not become the decision (None: it did)."""
    if result.outcome == Outcome.DECIDED:
        return None
    if result.outcome == Outcome.NOT_FOUND:
        return NO_ITEM
    if result.outcome in (Outcome.APPROVAL_RECORDED, Outcome.ALREADY_APPROVED):
        assert result.item is not None
        required = route_of(result.item).approvals_required
        missing = required - len(result.approvers)
        names = ", ".join(f"<@{user}>" for user in result.approvers)
        counted = (
            "Your approval is counted"
            if result.outcome == Outcome.APPROVAL_RECORDED
            else ("You have already approved this")
        )
        return (
            f"{counted}: {len(result.approvers)} of {required} ({names}). "
            f"It needs {missing} more from someone else."
        )
    if result.outcome == Outcome.FORBIDDEN:
        assert result.item is not None
        return refusal_text(result.item)
    return already_decided_text(result)


def spot_check(
    deps: HandlerDeps,
    item_id: str,
    user_id: str,
    verdict: str,
    reason: str | None = None,
    note: str | None = None,
) -> str | None:
    """Records a spot-check verdict ("wrong" with one of the route's reasons); returns
    what to tell the user when it was refused."""
    result = commands.spot_check(
        deps.db,
        item_id,
        by=user_id,
        verdict=verdict,
        reason=reason,
        note=note,
        source="slack",
        now=deps.now(),
        events=deps.events,
    )
    if result.outcome == commands.SpotCheckOutcome.RECORDED:
        return None
    if result.item is None:
        return NO_ITEM
    if result.outcome == commands.SpotCheckOutcome.FORBIDDEN:
        return refusal_text(result.item)
    if result.outcome == commands.SpotCheckOutcome.INVALID_REASON:
        return UNKNOWN_REASON
    return NOT_AUTO_APPROVED


def check_can_spot_check(item: ReviewItem, user_id: str) -> str | None:
    """Before the "Wrong" modal opens: None when this person may judge the item."""
    if item.status != Status.AUTO_APPROVED:
        return NOT_AUTO_APPROVED
    return None if allowed(item, user_id) else refusal_text(item, to="judge")


def shows_item(
    deps: HandlerDeps, item: ReviewItem, channel: str, message_ts: str, user_id: str
) -> bool:
    """Whether the message clicked is one hitl posted for this item: its original post or
    one of its escalation messages. A click elsewhere names an item it does not show.

    A message Slack has posted but whose `ts` hitl has not recorded yet (the reply is on
    its way) is matched by its channel, or for a DM by the person it was sent to."""
    if item.channel == channel and item.message_ts in (message_ts, None):
        return True
    for message in escalations.messages_of(deps.db, item.id):
        if message.ts is not None:
            if (message.channel, message.ts) == (channel, message_ts):
                return True
        elif _may_be_unrecorded(message, channel, user_id):
            return True
    return False


def _may_be_unrecorded(message: ItemMessage, channel: str, user_id: str) -> bool:
    """An escalation message without a recorded ts, in this channel or this person's DM."""
    if message.channel is not None:
        return message.channel == channel
    return message.target == channel or (message.target == user_id and channel.startswith("D"))


def clicked_item(deps: HandlerDeps, click: Click) -> tuple[ReviewItem | None, str | None]:
    """The item a click is about, or why the click is refused (before any other check)."""
    item = reviews.get_item(deps.db, click.item_id)
    if item is None:
        return None, NO_ITEM
    if not shows_item(deps, item, click.channel, click.message_ts, click.user_id):
        log.warning(
            "refused a click on %s/%s that does not show the item",
            click.channel,
            click.message_ts,
            extra={"item_id": item.id},
        )
        return None, NOT_ITS_MESSAGE
    return item, None


def check_can_view(item: ReviewItem, user_id: str) -> str | None:
    """Seeing an item in full takes the same right as deciding it (None: allowed)."""
    return None if allowed(item, user_id) else refusal_text(item, to="see")


def reject(
    deps: HandlerDeps, item_id: str, user_id: str, reason: str | None, note: str | None
) -> DecideResult | str:
    """A rejection with one of the route's reasons (frozen with the item); a reason the
    route does not list is refused and nothing is decided."""
    result = commands.reject(
        deps.db,
        item_id,
        by=user_id,
        source="slack",
        reason=reason,
        note=note,
        now=deps.now(),
        events=deps.events,
    )
    if result.outcome == Outcome.NOT_FOUND:
        return NO_ITEM
    if result.outcome == Outcome.INVALID_REASON:
        return UNKNOWN_REASON
    return result

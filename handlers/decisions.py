"""Deciding from Slack, as plain functions: tested without Slack, called by the listeners."""

from handlers.blocks import slack_date
from handlers.deps import HandlerDeps
from rules import Route, may_decide
from storage import reviews
from storage.models import ReviewItem, Status
from storage.reviews import DecideResult, Outcome


def route_of(item: ReviewItem) -> Route:
    """The route as it was when the item arrived."""
    return Route.model_validate(item.route_snapshot)


def allowed(item: ReviewItem, user_id: str) -> bool:
    return may_decide(route_of(item), user_id, escalated_to=escalated_to(item))


def escalated_to(item: ReviewItem) -> list[str]:
    """Users the item was escalated to, who may decide it from then on."""
    return [user for escalation in item.escalations for user in escalation.get("to", [])]


def approve(
    deps: HandlerDeps, item_id: str, user_id: str, *, edited_output: str | None = None
) -> DecideResult:
    """An approval (or an edit, which approves the new text); four-eyes routes count them."""
    result = reviews.approve(
        deps.db,
        item_id,
        by=user_id,
        source="slack",
        now=deps.now(),
        required=lambda current: route_of(current).approvals_required,
        may_decide=lambda current: allowed(current, user_id),
        edited_output=edited_output,
    )
    _announce(deps, result)
    return result


def _announce(deps: HandlerDeps, result: DecideResult) -> None:
    if result.item is None:
        return
    if result.outcome == Outcome.DECIDED:
        deps.decided(result.item.status, "slack")
    if result.outcome in (Outcome.DECIDED, Outcome.APPROVAL_RECORDED):
        deps.changed(result.item.id)


def decide(
    deps: HandlerDeps,
    item_id: str,
    user_id: str,
    status: Status,
    *,
    final_output: str | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> DecideResult:
    result = reviews.decide(
        deps.db,
        item_id,
        status=status,
        by=user_id,
        source="slack",
        now=deps.now(),
        final_output=final_output,
        reason=reason,
        note=note,
        may_decide=lambda item: allowed(item, user_id),
    )
    _announce(deps, result)
    return result


def check_can_open(
    deps: HandlerDeps, item_id: str, user_id: str
) -> tuple[ReviewItem | None, str | None]:
    """Before opening a modal: the item, or why this user cannot decide it."""
    item = reviews.get_item(deps.db, item_id)
    if item is None:
        return None, "This item no longer exists."
    if item.status != Status.PENDING:
        return None, already_decided_text(
            DecideResult(Outcome.ALREADY_DECIDED, item, reviews.get_decision(deps.db, item_id))
        )
    if not allowed(item, user_id):
        return None, refusal_text(item)
    return item, None


def refusal_text(item: ReviewItem) -> str:
    route = route_of(item)
    who = ", ".join(f"<@{user}>" for user in [*route.owner.users, *escalated_to(item)])
    return (
        f"You can't decide this item: route *{route.name}* is decided by {who}. "
        "Nothing was changed."
    )


def already_decided_text(result: DecideResult) -> str:
    item, decision = result.item, result.decision
    if item is None:
        return "This item no longer exists."
    if decision is None:
        return f"This item is already {item.status.replace('_', ' ')}."
    who = f"<@{decision.by}>" if decision.source == "slack" else decision.by
    verb = {
        Status.APPROVED: "approved",
        Status.EDITED: "approved with edits",
        Status.REJECTED: "rejected",
        Status.CANCELLED: "cancelled",
        Status.EXPIRED: "expired",
        Status.AUTO_APPROVED: "auto-approved",
    }[Status(item.status)]
    return f"Already {verb} by {who} {slack_date(decision.at)}. Your action was not recorded."


def outcome_message(result: DecideResult, user_id: str) -> str | None:
    """What to tell the user whose action did not become the decision (None: it did)."""
    if result.outcome == Outcome.DECIDED:
        return None
    if result.outcome == Outcome.NOT_FOUND:
        return "This item no longer exists."
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


def spot_check(deps: HandlerDeps, item_id: str, user_id: str, verdict: str) -> str | None:
    """Records a spot-check verdict; returns what to tell the user when it was refused."""
    item = reviews.get_item(deps.db, item_id)
    if item is None:
        return "This item no longer exists."
    if not allowed(item, user_id):
        return refusal_text(item)
    if reviews.record_spot_check(deps.db, item_id, by=user_id, verdict=verdict, now=deps.now()):
        deps.changed(item_id)
        return None
    return "Only auto-approved items are spot-checked."

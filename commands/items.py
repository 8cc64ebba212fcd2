"""THE way an item changes: submit, approve (or edit), reject, cancel, spot check.

Plain functions, called alike by the HTTP API and the Slack listeners. Each takes what it
needs explicitly (database, rules, the time, the event bus), commits through `storage` in
one transaction, returns a small typed result and, when something changed, publishes one
`ItemChanged` after the commit. Nothing here knows about Slack or HTTP.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from commands.escalation import first_step
from commands.events import ChangeKind, EventBus, ItemChanged
from commands.homes import submitted_home_refresh
from commands.reminders import first_reminder
from rules import LoadedRules, may_decide, route_item
from storage import groups, reviews, spot_checks
from storage.db import Database
from storage.models import ReviewItem, Status
from storage.reviews import Created, DecideResult, NewItem, Outcome

log = logging.getLogger(__name__)


# --- who may decide ------------------------------------------------------------------


def escalated_to(item: ReviewItem) -> list[str]:
    """Users the item was escalated to (user groups by their recorded members), who may
    decide it from then on."""
    return groups.escalated_people(item)


def may_decide_item(item: ReviewItem, user_id: str) -> bool:
    """Route owners (by the route frozen on the item) and the people it was escalated to."""
    return may_decide(item.frozen_route(), user_id, escalated_to=escalated_to(item))


# --- submit --------------------------------------------------------------------------


@dataclass(frozen=True)
class NoRoute:
    workflow: str
    agent: str


@dataclass(frozen=True)
class ExternalIdConflict:
    """The agent reused an `external_id` for a different submission."""

    existing: Created
    fields: list[str]  # the submitted fields that differ from the stored item's


def differing_fields(item: ReviewItem, new: NewItem) -> list[str]:
    """Which submitted fields differ from what was stored for the same `external_id`."""
    stored: dict[str, Any] = {
        "workflow": item.workflow,
        "title": item.title,
        "output": item.output,
        "output_schema": item.output_schema,
        "confidence": item.confidence,
        "context": item.context,
        "links": item.links,
        "callback_url": item.callback_url,
        "metadata": item.item_metadata,
    }
    submitted: dict[str, Any] = {
        "workflow": new.workflow,
        "title": new.title,
        "output": new.output,
        "output_schema": new.output_schema,
        "confidence": new.confidence,
        "context": new.context,
        "links": new.links,
        "callback_url": new.callback_url,
        "metadata": new.metadata,
    }
    return [name for name, value in submitted.items() if not _same_json(stored[name], value)]


def _same_json(left: Any, right: Any) -> bool:
    """Equality of JSON values as stored: booleans are not numbers, 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    return bool(left == right)


def _existing(created: Created, new: NewItem) -> Created | ExternalIdConflict:
    differing = differing_fields(created.item, new)
    return ExternalIdConflict(created, differing) if differing else created


def _stored(db: Database, new: NewItem) -> Created | ExternalIdConflict | None:
    """The item stored earlier with the same `external_id`, if any."""
    if new.external_id is None:
        return None
    existing = reviews.find_by_external_id(db, new.agent, new.external_id)
    if existing is None:
        return None
    return _existing(Created(existing, reviews.get_decision(db, existing.id), False), new)


def submit(
    db: Database,
    loaded: LoadedRules,
    new: NewItem,
    *,
    now: datetime,
    events: EventBus,
    sample: float | None = None,
) -> Created | NoRoute | ExternalIdConflict:
    """Routes and stores a new item (a resubmission with the same `external_id` returns
    the stored one). `sample` stands in for the spot-check draw in tests."""
    # A resubmission (same `external_id`) is found by the insert's unique key, not by a
    # read before it: every first submission would pay for that read.
    decision = route_item(
        loaded.rules, workflow=new.workflow, agent=new.agent, confidence=new.confidence
    )
    if decision is None:
        stored = _stored(db, new)
        return stored if stored is not None else NoRoute(new.workflow, new.agent)
    route = decision.route
    # Auto-approved items skip people, except a spot-check share the route asks for.
    draw = random.random() if sample is None else sample
    spot_check = decision.auto_approved and draw < route.audit_sample
    routing = reviews.Routing(
        route=route.name,
        route_snapshot=route.model_dump(mode="json"),
        rules_version=loaded.version,
        channel=route.owner.channel,
        auto_approved=decision.auto_approved,
        first_step=None if decision.auto_approved else first_step(route, now),
        first_reminder=None if decision.auto_approved else first_reminder(route, now),
        post_to_slack=not decision.auto_approved or spot_check,
        home_refresh=None if decision.auto_approved else submitted_home_refresh(route),
    )
    result = reviews.create_item(db, new, routing, now=now)
    if not result.created:  # a concurrent submission with the same external_id won
        return _existing(result, new)
    item = result.item
    log.info(
        "item %s submitted by %s to route %s: %s",
        item.id,
        new.agent,
        route.name,
        item.status,
        extra={"item_id": item.id},
    )
    # An auto-approval is decided by hitl ("system"), as its decision row says.
    source = result.decision.source if result.decision else "api"
    events.publish(
        ItemChanged(item.id, ChangeKind.SUBMITTED, item.status, source, item.route, item.deadline)
    )
    return result


# --- decide --------------------------------------------------------------------------


def _announce(result: DecideResult, source: str, events: EventBus) -> DecideResult:
    """Logs and publishes a decision or a counted approval; refusals change nothing."""
    item = result.item
    if item is None:
        return result
    if result.outcome == Outcome.DECIDED:
        by = result.decision.by if result.decision else "?"
        log.info("decided %s by %s (%s)", item.status, by, source, extra={"item_id": item.id})
        kind = ChangeKind.DECIDED
    elif result.outcome == Outcome.APPROVAL_RECORDED:
        log.info(
            "approval %d of %d recorded (%s)",
            len(result.approvers),
            item.frozen_route().approvals_required,
            source,
            extra={"item_id": item.id},
        )
        kind = ChangeKind.APPROVAL_RECORDED
    else:
        return result
    events.publish(ItemChanged(item.id, kind, item.status, source, item.route, item.deadline))
    return result


def approve(
    db: Database,
    item_id: str,
    *,
    by: str,
    source: str,
    now: datetime,
    events: EventBus,
    edited_output: str | dict[str, Any] | None = None,
) -> DecideResult:
    """One person's approval (an edit approves the new text); the item is decided once as
    many people agree as its frozen route requires (four eyes)."""
    result = reviews.approve(
        db,
        item_id,
        by=by,
        source=source,
        now=now,
        required=lambda item: item.frozen_route().approvals_required,
        may_decide=lambda item: may_decide_item(item, by),
        edited_output=edited_output,
    )
    return _announce(result, source, events)


def reject(
    db: Database,
    item_id: str,
    *,
    by: str,
    source: str,
    reason: str | None,
    note: str | None,
    now: datetime,
    events: EventBus,
) -> DecideResult:
    """A rejection with one of the reasons the item's frozen route lists; any other reason
    is refused (INVALID_REASON) and nothing is decided."""
    item = reviews.get_item(db, item_id)
    if item is None:
        return DecideResult(Outcome.NOT_FOUND)
    if reason is None or reason not in item.frozen_route().reason_ids():
        return DecideResult(Outcome.INVALID_REASON, item)
    result = reviews.decide(
        db,
        item_id,
        status=Status.REJECTED,
        by=by,
        source=source,
        now=now,
        reason=reason,
        note=note,
        may_decide=lambda current: may_decide_item(current, by),
    )
    return _announce(result, source, events)


def cancel(
    db: Database,
    item_id: str,
    *,
    agent: str,
    reason: str | None,
    now: datetime,
    events: EventBus,
) -> DecideResult:
    """The agent withdraws its own undecided item."""
    result = reviews.decide(
        db,
        item_id,
        status=Status.CANCELLED,
        by=agent,
        source="api",
        now=now,
        note=reason,
        agent=agent,
    )
    return _announce(result, "api", events)


# --- spot check ----------------------------------------------------------------------


class SpotCheckOutcome(StrEnum):
    RECORDED = "recorded"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    NOT_AUTO_APPROVED = "not_auto_approved"
    INVALID_REASON = "invalid_reason"  # a reason the item's route does not list


@dataclass(frozen=True)
class SpotCheckResult:
    outcome: SpotCheckOutcome
    item: ReviewItem | None = None


def spot_check(
    db: Database,
    item_id: str,
    *,
    by: str,
    verdict: str,
    source: str,
    now: datetime,
    events: EventBus,
    reason: str | None = None,
    note: str | None = None,
) -> SpotCheckResult:
    """A person's verdict ("ok" or "wrong") on an auto-approved item; "wrong" may say why,
    with one of the reasons of the item's frozen route (any other is refused) and a note.
    The item itself never changes; the digest reads the verdicts."""
    item = reviews.get_item(db, item_id)
    if item is None:
        return SpotCheckResult(SpotCheckOutcome.NOT_FOUND)
    if not may_decide_item(item, by):
        return SpotCheckResult(SpotCheckOutcome.FORBIDDEN, item)
    if reason is not None and reason not in item.frozen_route().reason_ids():
        return SpotCheckResult(SpotCheckOutcome.INVALID_REASON, item)
    if verdict == "ok":
        reason = note = None
    checked = spot_checks.record_spot_check(
        db, item_id, by=by, verdict=verdict, now=now, reason=reason, note=note
    )
    if checked is None:
        return SpotCheckResult(SpotCheckOutcome.NOT_AUTO_APPROVED, item)
    log.info("spot check %s by %s", verdict, by, extra={"item_id": item_id})
    events.publish(
        ItemChanged(item_id, ChangeKind.SPOT_CHECKED, checked.status, source, checked.route)
    )
    return SpotCheckResult(SpotCheckOutcome.RECORDED, checked)

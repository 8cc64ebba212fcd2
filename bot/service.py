"""What happens when an agent submits or withdraws an item: rules decide the route,
storage records it. Plain functions; the HTTP layer only translates."""

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.api_models import ReviewRequest
from bot.escalation_clock import first_step
from rules import LoadedRules, route_item
from storage import reviews
from storage.db import Database
from storage.models import ReviewItem, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoRoute:
    workflow: str
    agent: str


@dataclass(frozen=True)
class ExternalIdConflict:
    """The agent reused an `external_id` for a different submission."""

    existing: reviews.Created
    fields: list[str]  # the submitted fields that differ from the stored item's


def new_item_of(request: ReviewRequest, agent: str) -> reviews.NewItem:
    return reviews.NewItem(
        agent=agent,
        workflow=request.workflow,
        title=request.title,
        output=request.output,
        confidence=request.confidence,
        context=dict(request.context),
        links=[link.model_dump(mode="json") for link in request.links],
        external_id=request.external_id,
        callback_url=str(request.callback_url) if request.callback_url else None,
        metadata=request.metadata,
    )


def differing_fields(item: ReviewItem, new: reviews.NewItem) -> list[str]:
    """Which submitted fields differ from what was stored for the same `external_id`."""
    stored: dict[str, Any] = {
        "workflow": item.workflow,
        "title": item.title,
        "output": item.output,
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


def _existing(
    created: reviews.Created, new: reviews.NewItem
) -> reviews.Created | ExternalIdConflict:
    differing = differing_fields(created.item, new)
    if differing:
        return ExternalIdConflict(created, differing)
    return created


def submit(
    db: Database,
    loaded: LoadedRules,
    *,
    agent: str,
    request: ReviewRequest,
    now: datetime,
    sample: float | None = None,
) -> reviews.Created | NoRoute | ExternalIdConflict:
    new = new_item_of(request, agent)
    if request.external_id is not None:
        existing = reviews.find_by_external_id(db, agent, request.external_id)
        if existing is not None:
            found = reviews.Created(existing, reviews.get_decision(db, existing.id), created=False)
            return _existing(found, new)
    decision = route_item(
        loaded.rules, workflow=request.workflow, agent=agent, confidence=request.confidence
    )
    if decision is None:
        return NoRoute(workflow=request.workflow, agent=agent)
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
        post_to_slack=not decision.auto_approved or spot_check,
    )
    result = reviews.create_item(db, new, routing, now=now)
    if not result.created:  # a concurrent submission with the same external_id won
        return _existing(result, new)
    log.info(
        "item %s submitted by %s to route %s: %s",
        result.item.id,
        agent,
        route.name,
        result.item.status,
        extra={"item_id": result.item.id},
    )
    return result


def cancel(
    db: Database, item_id: str, *, agent: str, reason: str | None, now: datetime
) -> reviews.DecideResult:
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
    if result.outcome == reviews.Outcome.DECIDED:
        log.info("item %s cancelled by %s", item_id, agent, extra={"item_id": item_id})
    return result

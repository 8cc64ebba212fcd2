"""What happens when an agent submits or withdraws an item: rules decide the route,
storage records it. Plain functions; the HTTP layer only translates."""

import random
from dataclasses import dataclass
from datetime import datetime

from bot.api_models import ReviewRequest
from bot.escalation_clock import first_step
from rules import LoadedRules, route_item
from storage import reviews
from storage.db import Database
from storage.models import Status


@dataclass(frozen=True)
class NoRoute:
    workflow: str
    agent: str


def submit(
    db: Database,
    loaded: LoadedRules,
    *,
    agent: str,
    request: ReviewRequest,
    now: datetime,
    sample: float | None = None,
) -> reviews.Created | NoRoute:
    if request.external_id is not None:
        existing = reviews.find_by_external_id(db, agent, request.external_id)
        if existing is not None:
            return reviews.Created(existing, reviews.get_decision(db, existing.id), created=False)
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
    new = reviews.NewItem(
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
    return reviews.create_item(db, new, routing, now=now)


def cancel(
    db: Database, item_id: str, *, agent: str, reason: str | None, now: datetime
) -> reviews.DecideResult:
    return reviews.decide(
        db,
        item_id,
        status=Status.CANCELLED,
        by=agent,
        source="api",
        now=now,
        note=reason,
        agent=agent,
    )

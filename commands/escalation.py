"""Firing due escalation steps: the clock claims them, this decides and commits what each
does (ask the next people, or apply `on_exhausted`) and announces it."""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from commands.events import ChangeKind, EventBus, ItemChanged
from commands.reminders import level_reminder
from rules import Route, escalation
from storage import escalations
from storage.db import Database
from storage.deadlines import StepPlan
from storage.escalations import FireOutcome, FireResult, Firing
from storage.models import EscalationStepRow, ReviewItem, Status

log = logging.getLogger(__name__)


def step_plan(deadline: escalation.Deadline | None) -> StepPlan | None:
    """A rules deadline as the row storage inserts."""
    if deadline is None:
        return None
    return StepPlan(
        deadline.step_index, deadline.step, deadline.repeat, deadline.exhaust, deadline.due_at
    )


def first_step(route: Route, created_at: datetime) -> StepPlan | None:
    return step_plan(escalation.first_deadline(route, created_at))


def exhausted_status(route: Route) -> Status:
    return Status.REJECTED if route.on_exhausted == "reject" else Status.EXPIRED


def plan_firing(item: ReviewItem, step: EscalationStepRow) -> Firing:
    """What a due step of this item does, by the route frozen on the item."""
    route = item.frozen_route()
    if step.exhaust:
        return Firing(exhaust_status=exhausted_status(route))
    chain_step = escalation.step_at(route, step.step_index)
    next_step = step_plan(escalation.deadline_after(route, step.step_index, step.due_at))
    return Firing(
        to=list(chain_step.to),
        channel=chain_step.channel,
        next_step=next_step,
        reminder=level_reminder(
            route, item.escalation_level + 1, step.due_at, next_step.due_at if next_step else None
        ),
    )


# Words the short note in the original message's thread (to, channel, when): the
# composition passes the Slack renderer's (handlers.blocks.escalation_note).
ThreadNote = Callable[[list[str], str | None, datetime], str]


def fire_steps(
    db: Database,
    step_ids: list[int],
    *,
    now: datetime,
    events: EventBus,
    thread_note: ThreadNote | None = None,
) -> list[FireResult]:
    """Fires claimed steps in one transaction, then announces each one that did something
    (a step already fired, or whose item was decided first, is stale and says nothing).
    With `thread_note`, each escalation also queues that note in the original's thread."""
    planned: dict[str, tuple[str, Firing]] = {}  # item id -> (route, what its step did)

    def plan(item: ReviewItem, step: EscalationStepRow) -> Firing:
        firing = plan_firing(item, step)
        if thread_note is not None and firing.exhaust_status is None:
            firing = replace(firing, thread_note=thread_note(firing.to, firing.channel, now))
        planned[item.id] = (item.route, firing)
        return firing

    results = escalations.fire_many(db, step_ids, now=now, plan=plan)
    for result in results:
        if result.outcome == FireOutcome.STALE or result.item_id not in planned:
            continue
        log.info(
            "escalation: item %s %s (level %s)",
            result.item_id,
            result.outcome,
            result.level,
            extra={"item_id": result.item_id},
        )
        route, firing = planned[result.item_id]
        events.publish(_event_of(result, route, firing))
    return results


def _event_of(result: FireResult, route: str, firing: Firing) -> ItemChanged:
    if result.outcome == FireOutcome.EXHAUSTED and firing.exhaust_status is not None:
        return ItemChanged(
            result.item_id, ChangeKind.EXHAUSTED, firing.exhaust_status, "system", route
        )
    deadline = firing.next_step.due_at if firing.next_step else None
    return ItemChanged(
        result.item_id, ChangeKind.ESCALATED, Status.PENDING, "system", route, deadline
    )

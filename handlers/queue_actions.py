"""Take it / Hand over on an item's message. Taking tells others someone is on it (they
can still decide, and escalation still runs); handing over passes it to another person
who may decide it, who gets it by DM. Refusals are told only to the person who clicked."""

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from commands import queue
from commands.items import escalated_to
from commands.queue import TakeOutcome, TakeResult
from handlers import blocks, decisions
from handlers.deps import HandlerDeps
from handlers.home_blocks import hand_over_modal
from handlers.payloads import click_in
from handlers.queue_payloads import (
    HAND_OVER_BLOCK,
    HAND_OVER_CALLBACK,
    HandOverSubmission,
    queue_payload_in,
)
from handlers.views import DID_NOT_TAKE as SUBMIT_DID_NOT_TAKE
from storage.models import STATUS_WORDS, ReviewItem

log = logging.getLogger(__name__)

CLICK_DID_NOT_TAKE = (
    "Your click did not take: hitl could not reach its database. Nothing was changed; "
    "please try again in a moment."
)
PICK_SOMEONE = "Pick the person who should take it."


def register(app: App, deps: HandlerDeps) -> None:
    @app.action(blocks.TAKE)
    def take_it(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        click = click_in(context)
        try:
            item, refusal = decisions.clicked_item(deps, click)
            if item is not None:
                result = queue.take(deps.db, item.id, by=click.user_id, now=deps.now(),
                                    events=deps.events)  # fmt: skip
                refusal = refusal_text(result, click.user_id)
        except SQLAlchemyError as error:
            log.warning("take by %s did not take: %s", click.user_id, type(error).__name__)
            refusal = CLICK_DID_NOT_TAKE
        ack()  # only now: the take is committed, or the reply says why not
        _tell(respond, refusal)

    @app.action(blocks.HAND_OVER)
    def hand_over(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = click_in(context)
        try:
            item, refusal = decisions.clicked_item(deps, click)
            if item is not None:
                item, refusal = decisions.check_can_open(deps, item.id, click.user_id)
        except SQLAlchemyError as error:
            log.warning("hand over by %s did not open: %s", click.user_id, type(error).__name__)
            item, refusal = None, CLICK_DID_NOT_TAKE
        ack()
        if item is None:
            _tell(respond, refusal)
            return
        client.views_open(trigger_id=click.trigger_id, view=hand_over_modal(item))

    @app.view(HAND_OVER_CALLBACK)
    def submit_hand_over(ack: Ack, context: dict[str, Any]) -> None:
        submission: HandOverSubmission = queue_payload_in(context, HandOverSubmission)
        if submission.to is None:
            ack(response_action="errors", errors={HAND_OVER_BLOCK: PICK_SOMEONE})
            return
        try:
            result = queue.hand_over(
                deps.db,
                submission.item_id,
                by=submission.user_id,
                to=submission.to,
                now=deps.now(),
                events=deps.events,
            )
            problem = refusal_text(result, submission.user_id, to=submission.to)
        except SQLAlchemyError as error:
            log.warning("hand over by %s did not take: %s", submission.user_id,
                        type(error).__name__)  # fmt: skip
            problem = SUBMIT_DID_NOT_TAKE
        if problem is None:
            ack()
        else:  # shown in the modal, to the person who submitted it only
            ack(response_action="errors", errors={HAND_OVER_BLOCK: _plain(problem)})


def refusal_text(result: TakeResult, user: str, *, to: str | None = None) -> str | None:
    """Why taking or handing over was refused (None: it was done)."""
    item = result.item
    if result.outcome in (TakeOutcome.TAKEN, TakeOutcome.HANDED_OVER):
        return None
    if result.outcome == TakeOutcome.NOT_FOUND or item is None:
        return decisions.NO_ITEM
    if result.outcome == TakeOutcome.ALREADY_DECIDED:
        return f"This item is already {STATUS_WORDS[item.status]}. Nothing was changed."
    if result.outcome == TakeOutcome.FORBIDDEN:
        verb = "take" if to is None else "hand over"
        return decisions.refusal_text(item, to=verb)
    if result.outcome == TakeOutcome.TARGET_FORBIDDEN:
        route = item.frozen_route()
        who = ", ".join(f"<@{person}>" for person in [*route.owner.users, *escalated_to(item)])
        return (
            f"<@{to}> can't decide this item, so it was not handed over: route "
            f"*{route.name}* is decided by {who}. Nothing was changed."
        )
    return _already_taken(item, user, to)


def _already_taken(item: ReviewItem, user: str, to: str | None) -> str:
    since = blocks.slack_date(item.taken_at) if item.taken_at else "earlier"
    if to is not None:
        return f"<@{to}> is already on this item (since {since}). Nothing was changed."
    if item.taken_by == user:
        return f"You are already on this item (since {since}). Nothing was changed."
    return (
        f"<@{item.taken_by}> is already on this item (since {since}). Use *Hand over* to "
        "pass it to someone else. Nothing was changed."
    )


def _tell(respond: Respond, text: str | None) -> None:
    if text:
        respond(text=text, response_type="ephemeral", replace_original=False)


def _plain(text: str) -> str:
    """Modal errors are plain text."""
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    return re.sub(r"<@(\w+)>", r"@\1", text).replace("*", "")

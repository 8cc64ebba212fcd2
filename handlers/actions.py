"""Button clicks on a review message.

Every click is checked before anything else: the message clicked must be one that shows
the item, and the person must be allowed to see it. A click that changes something
(approve, spot check) is acknowledged only after its change is committed; when the
database fails, the reviewer is told the click did not take, and nothing is half-done.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from handlers import blocks, decisions, modals
from handlers.deps import HandlerDeps
from handlers.payloads import Click, click_in
from storage.models import ReviewItem

log = logging.getLogger(__name__)

Result = TypeVar("Result")

DID_NOT_TAKE = (
    "Your click did not take: hitl could not reach its database. Nothing was changed; "
    "please try again in a moment."
)


def register(app: App, deps: HandlerDeps) -> None:
    @app.action(blocks.APPROVE)
    def approve(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        click = click_in(context)
        reply = _attempt(click, lambda: _approve(deps, click))
        ack()  # only now: the decision is committed, or the reply says it did not take
        _tell(respond, reply)

    @app.action(blocks.SPOT_OK)
    def spot_ok(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        click = click_in(context)
        reply = _attempt(click, lambda: _spot_ok(deps, click))
        ack()
        _tell(respond, reply)

    @app.action(blocks.SPOT_WRONG)
    def spot_wrong(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """The Wrong button asks why first: the modal's submission records the verdict."""
        click = click_in(context)
        item = _attempt(click, lambda: _spot_checkable(deps, click))
        ack()
        if isinstance(item, str):
            _tell(respond, item)
            return
        view = modals.spot_wrong_modal(item, decisions.route_of(item))
        client.views_open(trigger_id=click.trigger_id, view=view)

    @app.action(blocks.EDIT)
    def edit(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = click_in(context)
        item = _attempt(click, lambda: _decidable(deps, click))
        ack()
        if isinstance(item, str):
            _tell(respond, item)
            return
        client.views_open(trigger_id=click.trigger_id, view=modals.edit_modal(item))

    @app.action(blocks.REJECT)
    def reject(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = click_in(context)
        item = _attempt(click, lambda: _decidable(deps, click))
        ack()
        if isinstance(item, str):
            _tell(respond, item)
            return
        view = modals.reject_modal(item, decisions.route_of(item))
        client.views_open(trigger_id=click.trigger_id, view=view)

    @app.action(blocks.VIEW_OUTPUT)
    @app.action(blocks.VIEW_ORIGINAL)
    def view_output(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = click_in(context)
        item = _attempt(click, lambda: _viewable(deps, click))
        ack()
        if isinstance(item, str):
            _tell(respond, item)
            return
        if click.action_id == blocks.VIEW_ORIGINAL:
            view = modals.original_modal(item)
        else:
            view = modals.full_output_modal(item)
        client.views_open(trigger_id=click.trigger_id, view=view)


def _approve(deps: HandlerDeps, click: Click) -> str | None:
    item, refusal = decisions.clicked_item(deps, click)
    if item is None:
        return refusal
    result = decisions.approve(deps, click.item_id, click.user_id)
    return decisions.outcome_message(result, click.user_id)


def _spot_ok(deps: HandlerDeps, click: Click) -> str | None:
    item, refusal = decisions.clicked_item(deps, click)
    if item is None:
        return refusal
    return decisions.spot_check(deps, click.item_id, click.user_id, "ok")


def _spot_checkable(deps: HandlerDeps, click: Click) -> ReviewItem | str:
    """The item, when this person may judge its auto-approval; else why not."""
    item, refusal = decisions.clicked_item(deps, click)
    if item is None:
        return refusal or decisions.NO_ITEM
    return decisions.check_can_spot_check(item, click.user_id) or item


def _decidable(deps: HandlerDeps, click: Click) -> ReviewItem | str:
    """The item, when this person may open its Edit or Reject modal; else why not."""
    item, refusal = decisions.clicked_item(deps, click)
    if item is None:
        return refusal or decisions.NO_ITEM
    item, refusal = decisions.check_can_open(deps, item.id, click.user_id)
    return item if item is not None else (refusal or decisions.NO_ITEM)


def _viewable(deps: HandlerDeps, click: Click) -> ReviewItem | str:
    """The item, when this person may see it in full; else why not."""
    item, refusal = decisions.clicked_item(deps, click)
    if item is None:
        return refusal or decisions.NO_ITEM
    return decisions.check_can_view(item, click.user_id) or item


def _attempt(click: Click, work: Callable[[], Result]) -> Result | str:
    """Runs a click's work; a database failure becomes the reply that it did not take.
    Each piece of work is one transaction, so a failure leaves nothing half-done."""
    try:
        return work()
    except SQLAlchemyError as error:
        log.warning(
            "click %s by %s did not take: database error %s",
            click.action_id,
            click.user_id,
            type(error).__name__,
            extra={"item_id": click.item_id},
        )
        return DID_NOT_TAKE


def _tell(respond: Respond, text: str | None) -> None:
    """An ephemeral reply, seen only by the person who clicked."""
    if text:
        respond(text=text, response_type="ephemeral", replace_original=False)

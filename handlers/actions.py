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
    app.action(blocks.APPROVE)(_deciding_listener(deps, _approve))
    app.action(blocks.SPOT_OK)(_deciding_listener(deps, _spot_ok))
    for action_id, (check, modal) in _MODAL_BUTTONS.items():
        app.action(action_id)(_modal_listener(deps, check, modal))


def _deciding_listener(
    deps: HandlerDeps, decide: Callable[[HandlerDeps, Click], str | None]
) -> Callable[..., None]:
    """A button that decides at once (Approve, a spot check's OK)."""

    def listener(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        click = click_in(context)
        reply = _attempt(click, lambda: decide(deps, click))
        ack()  # only now: the decision is committed, or the reply says it did not take
        _tell(respond, reply)

    return listener


def _modal_listener(
    deps: HandlerDeps,
    check: Callable[[HandlerDeps, Click], ReviewItem | str],
    modal: Callable[[ReviewItem], dict[str, Any]],
) -> Callable[..., None]:
    """A button that opens a modal, once the click passes its check; the modal's submission
    does the rest (handlers/views.py)."""

    def listener(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click = click_in(context)
        item = _attempt(click, lambda: check(deps, click))
        ack()
        if isinstance(item, str):
            _tell(respond, item)
            return
        client.views_open(trigger_id=click.trigger_id, view=modal(item))

    return listener


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


# Buttons that open a modal: the check the click must pass, and the modal it opens. The
# Wrong button of a spot check asks why first; its modal records the verdict.
_MODAL_BUTTONS: dict[
    str,
    tuple[Callable[[HandlerDeps, Click], ReviewItem | str], Callable[[ReviewItem], dict[str, Any]]],
] = {
    blocks.EDIT: (_decidable, modals.edit_modal),
    blocks.REJECT: (_decidable, lambda item: modals.reject_modal(item, decisions.route_of(item))),
    blocks.SPOT_WRONG: (
        _spot_checkable,
        lambda item: modals.spot_wrong_modal(item, decisions.route_of(item)),
    ),
    blocks.VIEW_OUTPUT: (_viewable, modals.full_output_modal),
    blocks.VIEW_ORIGINAL: (_viewable, modals.original_modal),
}

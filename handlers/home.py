"""The App Home: published when a person opens it and kept up to date (through the
outbox, see `commands.queue`), with Approve / Edit / Reject on every waiting item and
paging for long queues. Deciding from the Home takes the same right as from the message."""

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from commands import queue
from handlers import decisions, modals
from handlers.deps import HandlerDeps
from handlers.home_blocks import MAX_PAGE
from handlers.payloads import CONTEXT_KEY
from handlers.queue_payloads import (
    HOME_APPROVE,
    HOME_EDIT,
    HOME_PAGE,
    HOME_REJECT,
    HomeOpened,
    QueueClick,
    queue_payload_in,
)
from storage import queue as queue_store

log = logging.getLogger(__name__)

DID_NOT_TAKE = (
    "Your click did not take: hitl could not reach its database. Nothing was changed; "
    "please try again in a moment."
)


def register(app: App, deps: HandlerDeps) -> None:
    @app.event("app_home_opened")
    def opened(context: dict[str, Any]) -> None:
        event = context.get(CONTEXT_KEY)
        if not isinstance(event, HomeOpened) or event.tab != "home":
            return  # the Messages tab, or a shape hitl does not read
        queue.open_home(deps.db, event.user_id, now=deps.now())
        deps.wake_outbox()

    @app.action(HOME_PAGE)
    def page(ack: Ack, context: dict[str, Any]) -> None:
        ack()
        click: QueueClick = queue_payload_in(context, QueueClick)
        offset, size = (int(part) for part in click.value.split(":"))
        queue_store.set_home_page(
            deps.db, click.user_id, offset=offset, size=min(max(1, size), MAX_PAGE)
        )
        _refresh(deps, click.user_id)

    @app.action(HOME_APPROVE)
    def approve(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        click: QueueClick = queue_payload_in(context, QueueClick)
        try:
            result = decisions.approve(deps, click.value, click.user_id)
            reply = decisions.outcome_message(result, click.user_id)
        except SQLAlchemyError as error:
            reply = _did_not_take(click, error)
        ack()  # only now: the decision is committed, or the reply says it did not take
        _tell(click, respond, reply)
        _refresh(deps, click.user_id)

    @app.action(HOME_EDIT)
    @app.action(HOME_REJECT)
    def open_modal(ack: Ack, context: dict[str, Any], client: WebClient, respond: Respond) -> None:
        click: QueueClick = queue_payload_in(context, QueueClick)
        try:
            item, refusal = decisions.check_can_open(deps, click.value, click.user_id)
        except SQLAlchemyError as error:
            item, refusal = None, _did_not_take(click, error)
        ack()
        if item is None:
            _tell(click, respond, refusal)
            _refresh(deps, click.user_id)  # the Home was stale: show what is true now
            return
        if click.action_id == HOME_EDIT:
            view = modals.edit_modal(item)
        else:
            view = modals.reject_modal(item, decisions.route_of(item))
        client.views_open(trigger_id=click.trigger_id, view=view)


def _refresh(deps: HandlerDeps, user: str) -> None:
    try:
        queue_store.queue_home_publish(deps.db, [user], now=deps.now(), every=queue.HOME_EVERY)
        deps.wake_outbox()
    except SQLAlchemyError as error:
        log.warning("could not queue a Home refresh for %s (%s)", user, type(error).__name__)


def _did_not_take(click: QueueClick, error: SQLAlchemyError) -> str:
    log.warning(
        "Home click %s by %s did not take: database error %s",
        click.action_id,
        click.user_id,
        type(error).__name__,
        extra={"item_id": click.value},
    )
    return DID_NOT_TAKE


def _tell(click: QueueClick, respond: Respond, text: str | None) -> None:
    """An ephemeral reply where Slack gives a way to send one (a DM's button); a Home
    click has none, and its refreshed Home shows the item's state instead."""
    if text and click.response_url:
        respond(text=text, response_type="ephemeral", replace_original=False)

"""Button clicks on a review message."""

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers import blocks, decisions
from handlers.deps import HandlerDeps
from storage import reviews

log = logging.getLogger(__name__)


def register(app: App, deps: HandlerDeps) -> None:
    @app.action(blocks.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        item_id, user_id = _clicked(body)
        result = decisions.approve(deps, item_id, user_id)
        _tell_if_not_decided(respond, decisions.outcome_message(result, user_id))

    @app.action(blocks.EDIT)
    def edit(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        item_id, user_id = _clicked(body)
        item, refusal = decisions.check_can_open(deps, item_id, user_id)
        if item is None:
            _tell_if_not_decided(respond, refusal)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.edit_modal(item))

    @app.action(blocks.REJECT)
    def reject(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        item_id, user_id = _clicked(body)
        item, refusal = decisions.check_can_open(deps, item_id, user_id)
        if item is None:
            _tell_if_not_decided(respond, refusal)
            return
        reasons = decisions.route_of(item).reject_reasons
        client.views_open(trigger_id=body["trigger_id"], view=blocks.reject_modal(item, reasons))

    @app.action(blocks.SPOT_OK)
    @app.action(blocks.SPOT_WRONG)
    def spot_check(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        item_id, user_id = _clicked(body)
        verdict = "ok" if body["actions"][0]["action_id"] == blocks.SPOT_OK else "wrong"
        _tell_if_not_decided(respond, decisions.spot_check(deps, item_id, user_id, verdict))

    @app.action(blocks.VIEW_OUTPUT)
    def view_output(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        item_id, _user_id = _clicked(body)
        item = reviews.get_item(deps.db, item_id)
        if item is None:
            _tell_if_not_decided(respond, "This item no longer exists.")
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.full_output_modal(item))


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    return body["actions"][0]["value"], body["user"]["id"]


def _tell_if_not_decided(respond: Respond, text: str | None) -> None:
    if text:
        respond(text=text, response_type="ephemeral", replace_original=False)

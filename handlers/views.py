"""Modal submissions: the edited output, or the rejection reason and note."""

import re
from typing import Any

from slack_bolt import Ack, App

from handlers import blocks, decisions
from handlers.deps import HandlerDeps
from storage.models import Status
from storage.reviews import Outcome


def register(app: App, deps: HandlerDeps) -> None:
    @app.view(blocks.EDIT_CALLBACK)
    def submit_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        # The decision is made before acknowledging: a refusal is shown inside the modal,
        # which Slack only allows in the acknowledgement itself.
        values = view["state"]["values"]
        text = blocks.edited_output(values)
        first_block = min(values, default=f"{blocks.OUTPUT_BLOCK_PREFIX}0")
        if not text.strip():
            ack(response_action="errors", errors={first_block: "The output cannot be empty."})
            return
        result = decisions.approve(
            deps, view["private_metadata"], body["user"]["id"], edited_output=text
        )
        problem = decisions.outcome_message(result, body["user"]["id"])
        if result.outcome == Outcome.APPROVAL_RECORDED:
            problem = None  # the edit stands as a proposal; the message shows it
        _ack_result(ack, problem, first_block)

    @app.view(blocks.REJECT_CALLBACK)
    def submit_reject(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        selected = values[blocks.REASON_BLOCK]["choice"].get("selected_option") or {}
        note = (values.get(blocks.NOTE_BLOCK, {}).get("text", {}).get("value") or "").strip()
        result = decisions.decide(
            deps,
            view["private_metadata"],
            body["user"]["id"],
            Status.REJECTED,
            reason=selected.get("value"),
            note=note or None,
        )
        _ack_result(ack, decisions.outcome_message(result, body["user"]["id"]), blocks.REASON_BLOCK)


def _ack_result(ack: Ack, problem: str | None, block_id: str) -> None:
    if problem is None:
        ack()
    else:
        ack(response_action="errors", errors={block_id: _plain(problem)})


def _plain(text: str) -> str:
    """Modal errors are plain text: strip the mrkdwn mention and date markup."""
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    return re.sub(r"<@(\w+)>", r"@\1", text).replace("*", "")

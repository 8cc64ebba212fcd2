"""`/hitl`: an ephemeral summary of what waits for the person, and `/hitl help`.
Acknowledged at once; the answer follows through the command's response URL."""

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from sqlalchemy.exc import SQLAlchemyError

from commands import queue
from handlers.deps import HandlerDeps
from handlers.home_blocks import SUMMARY_SHOWN, help_blocks, summary
from handlers.queue_payloads import COMMAND, SlashCommand, queue_payload_in
from storage.models import ReviewItem

log = logging.getLogger(__name__)

UNAVAILABLE = "hitl could not reach its database just now; please try again in a moment."
SUMMARY_WORDS = ("", "queue", "list", "mine")


def register(app: App, deps: HandlerDeps) -> None:
    @app.command(COMMAND)
    def hitl(ack: Ack, context: dict[str, Any], respond: Respond) -> None:
        ack()
        command: SlashCommand = queue_payload_in(context, SlashCommand)
        text, blocks = answer(deps, command)
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def answer(deps: HandlerDeps, command: SlashCommand) -> tuple[str, list[dict[str, Any]]]:
    """What `/hitl …` answers: the summary, or the help (also for words it does not know)."""
    word = command.text.split()[0].lower() if command.text.split() else ""
    if word not in SUMMARY_WORDS:
        text, blocks = help_blocks()
        if word != "help":
            unknown = command.text.split()[0][:40].replace("`", "'")
            blocks.insert(0, _context(f"hitl has no `/hitl {unknown}`; here is what it has."))
        return text, blocks
    try:
        total, first = queue.waiting_for(deps.db, command.user_id, limit=SUMMARY_SHOWN)
    except SQLAlchemyError as error:
        log.warning("/hitl by %s: database error %s", command.user_id, type(error).__name__)
        return UNAVAILABLE, [_context(UNAVAILABLE)]
    return summary(total, first, _links(command.team_url))


def _links(team_url: str | None) -> Any:
    """Slack's documented permalink form, from the workspace address the command names."""

    def link_of(item: ReviewItem) -> str | None:
        if not team_url or not item.message_ts:
            return None
        return f"{team_url.rstrip('/')}/archives/{item.channel}/p{item.message_ts.replace('.', '')}"

    return link_of


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}

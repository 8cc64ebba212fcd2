"""Replies in the thread of an item's message (original or escalation) become comments
on the item: shown in the API and the callback, and kept in the audit trail. Messages of
bots (hitl's own thread notes too) and messages outside an item's thread are ignored; an
edited reply updates its comment, a deleted one leaves the API (the audit trail keeps it)."""

from datetime import UTC, datetime
from typing import Any

from slack_bolt import App

from commands import queue
from handlers.deps import HandlerDeps
from handlers.payloads import CONTEXT_KEY
from handlers.queue_payloads import ReplyDeleted, ReplyEdited, ThreadReply


def register(app: App, deps: HandlerDeps) -> None:
    @app.event("message")
    def message(context: dict[str, Any]) -> None:
        event = context.get(CONTEXT_KEY)
        if isinstance(event, ThreadReply):
            queue.record_reply(
                deps.db,
                channel=event.channel,
                thread_ts=event.thread_ts,
                ts=event.ts,
                user=event.user_id,
                text=event.text,
                at=_time_of(event.ts),
                events=deps.events,
            )
        elif isinstance(event, ReplyEdited):
            queue.edit_reply(
                deps.db,
                channel=event.channel,
                ts=event.ts,
                text=event.text,
                at=deps.now(),
                events=deps.events,
            )
        elif isinstance(event, ReplyDeleted):
            queue.delete_reply(
                deps.db, channel=event.channel, ts=event.ts, at=deps.now(), events=deps.events
            )


def _time_of(ts: str) -> datetime:
    """A message's ts is the time Slack received it."""
    return datetime.fromtimestamp(float(ts), UTC)

"""Slack interaction payloads as small typed objects, parsed once where a listener starts.

A payload can be signed and still not have the shape hitl expects (a bug, a changed
format, someone holding the signing secret). Anything that does not parse into the
objects below is refused as a whole, before any of it is read or anything is decided:
`MalformedPayload` becomes a `400` over HTTP and an acknowledged, logged refusal in
Socket Mode (see `bot.slack_app`, which parses each request once, before bolt reads it).
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from handlers.blocks import NOTE_BLOCK, OUTPUT_BLOCK_PREFIX, REASON_BLOCK

# Slack's ID shapes: users U…/W…; conversations C… (public), G… (private), D… (DM).
UserId = Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,30}$")]
ChannelId = Annotated[str, StringConstraints(pattern=r"^[CGD][A-Z0-9]{2,30}$")]
MessageTs = Annotated[str, StringConstraints(pattern=r"^\d{1,12}\.\d{1,8}$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^rv_[0-9A-Za-z]{1,37}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
WebUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]
_OUTPUT_BLOCK = rf"^{OUTPUT_BLOCK_PREFIX}\d{{1,3}}$"

CONTEXT_KEY = "hitl_payload"  # where the parsed payload waits in bolt's context


class MalformedPayload(ValueError):
    """A signed payload that does not have the shape hitl expects."""


class _Shape(BaseModel):
    # Strict: a list or a number is never read as text. Extra fields are ignored, since
    # Slack adds fields over time.
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class _User(_Shape):
    id: UserId


class _Action(_Shape):
    action_id: ShortText
    value: ItemId  # every hitl button carries the item id


class _Container(_Shape):
    type: Literal["message"]
    channel_id: ChannelId
    message_ts: MessageTs


class _BlockActions(_Shape):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1, max_length=1)
    container: _Container
    trigger_id: ShortText
    response_url: WebUrl


class _Option(_Shape):
    value: Annotated[str, StringConstraints(min_length=1, max_length=150)]


class InputState(_Shape):
    type: ShortText
    value: Annotated[str, StringConstraints(max_length=3000)] | None = None
    selected_option: _Option | None = None
    # A structured item's Edit modal (issue 11): checkboxes and datepickers.
    selected_options: list[_Option] | None = Field(None, max_length=10)
    selected_date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class _State(_Shape):
    values: dict[ShortText, dict[ShortText, InputState]] = Field(max_length=100)


class _View(_Shape):
    callback_id: ShortText
    private_metadata: ItemId
    state: _State


class _ViewSubmission(_Shape):
    type: Literal["view_submission"]
    user: _User
    view: _View


@dataclass(frozen=True)
class Click:
    """A button click on a message that shows an item."""

    action_id: str
    item_id: str
    user_id: str
    channel: str
    message_ts: str
    trigger_id: str


@dataclass(frozen=True)
class Submission:
    """A modal submitted for an item: the Edit or the Reject modal."""

    callback_id: str
    item_id: str
    user_id: str
    values: dict[str, dict[str, InputState]]

    def edited_output(self) -> tuple[str, str]:
        """The Edit modal's inputs joined back into one text, in order, and the first
        input's block id (where an error is shown)."""
        inputs = sorted(
            (key for key in self.values if key.startswith(OUTPUT_BLOCK_PREFIX)),
            key=lambda key: int(key.removeprefix(OUTPUT_BLOCK_PREFIX)),
        )
        text = "".join(self.values[key]["text"].value or "" for key in inputs)
        return text, (inputs[0] if inputs else f"{OUTPUT_BLOCK_PREFIX}0")

    def reject_reason(self) -> str | None:
        chosen = self.values.get(REASON_BLOCK, {}).get("choice")
        return chosen.selected_option.value if chosen and chosen.selected_option else None

    def reject_note(self) -> str | None:
        note = self.values.get(NOTE_BLOCK, {}).get("text")
        text = (note.value or "").strip() if note else ""
        return text or None


def parse(body: Any) -> Click | Submission | None:
    """The typed payload of a click or a modal submission; None for other requests
    (hitl has no listeners for them, and bolt answers them itself)."""
    kind = body.get("type") if isinstance(body, dict) else None
    try:
        if kind == "block_actions":
            return _click(_BlockActions.model_validate(body))
        if kind == "view_submission":
            return _submission(_ViewSubmission.model_validate(body))
    except ValidationError as error:
        raise MalformedPayload(_summary(error)) from None
    return None


def _click(payload: _BlockActions) -> Click:
    action = payload.actions[0]
    return Click(
        action_id=action.action_id,
        item_id=action.value,
        user_id=payload.user.id,
        channel=payload.container.channel_id,
        message_ts=payload.container.message_ts,
        trigger_id=payload.trigger_id,
    )


def _submission(payload: _ViewSubmission) -> Submission:
    values = payload.view.state.values
    for block_id, inputs in values.items():
        if block_id.startswith(OUTPUT_BLOCK_PREFIX):
            _require_output_block(block_id, inputs)
    return Submission(
        callback_id=payload.view.callback_id,
        item_id=payload.view.private_metadata,
        user_id=payload.user.id,
        values=values,
    )


def _require_output_block(block_id: str, inputs: dict[str, InputState]) -> None:
    if not re.fullmatch(_OUTPUT_BLOCK, block_id) or "text" not in inputs:
        raise MalformedPayload(f"view.state.values.{block_id[:40]}: not an output input")


def _summary(error: ValidationError) -> str:
    """One line naming the first problem (never echoing the payload's own text)."""
    first = error.errors(include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def click_in(context: dict[str, Any]) -> Click:
    """The click parsed for this request at the boundary."""
    parsed = context.get(CONTEXT_KEY)
    if not isinstance(parsed, Click):
        raise MalformedPayload("not a button click")
    return parsed


def submission_in(context: dict[str, Any]) -> Submission:
    """The modal submission parsed for this request at the boundary."""
    parsed = context.get(CONTEXT_KEY)
    if not isinstance(parsed, Submission):
        raise MalformedPayload("not a modal submission")
    return parsed

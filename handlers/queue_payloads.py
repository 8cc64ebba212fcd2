"""The reviewer's queue payloads as small typed objects, parsed once at the edge like
`handlers.payloads`: clicks in the App Home (and on a hand-over DM), the hand-over modal,
the `/hitl` command, and the `app_home_opened` and `message` events.

Clicks, submissions and commands of the wrong shape are refused whole (`MalformedPayload`).
Events are read leniently: Slack sends many kinds of `message` events, and one hitl does
not understand is ignored (acknowledged, so Slack does not send it again)."""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from handlers.payloads import (
    CONTEXT_KEY,
    ChannelId,
    ItemId,
    MalformedPayload,
    MessageTs,
    ShortText,
    UserId,
    WebUrl,
)

HOME_APPROVE, HOME_EDIT, HOME_REJECT = "home_approve", "home_edit", "home_reject"
HOME_PAGE = "home_page"  # value "offset:size"
QUEUE_ACTIONS = frozenset({HOME_APPROVE, HOME_EDIT, HOME_REJECT, HOME_PAGE})
HAND_OVER_CALLBACK = "hand_over_submit"
HAND_OVER_BLOCK, HAND_OVER_INPUT = "hand_over_to", "user"
COMMAND = "/hitl"

PageValue = Annotated[str, StringConstraints(pattern=r"^\d{1,6}:\d{1,3}$")]
Text = Annotated[str, StringConstraints(max_length=40_000)]


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class _User(_Shape):
    id: UserId


class _Action(_Shape):
    action_id: ShortText
    value: ItemId | PageValue


class _Container(_Shape):
    type: Literal["message", "view"]
    channel_id: ChannelId | None = None
    message_ts: MessageTs | None = None


class _Team(_Shape):
    domain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,80}$")] | None = None


class _QueueActions(_Shape):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1, max_length=1)
    container: _Container
    trigger_id: ShortText
    response_url: WebUrl | None = None
    team: _Team | None = None


class _UserInput(_Shape):
    type: Literal["users_select"]
    selected_user: UserId | None = None


class _HandOverState(_Shape):
    values: dict[ShortText, dict[ShortText, _UserInput]] = Field(max_length=10)


class _HandOverView(_Shape):
    callback_id: Literal["hand_over_submit"]
    private_metadata: ItemId
    state: _HandOverState


class _HandOverSubmission(_Shape):
    type: Literal["view_submission"]
    user: _User
    view: _HandOverView


class _SlashCommand(_Shape):
    command: Literal["/hitl"]
    text: Annotated[str, StringConstraints(max_length=4000)] = ""
    user_id: UserId
    channel_id: ChannelId
    response_url: WebUrl
    team_domain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,80}$")] | None = None


@dataclass(frozen=True)
class QueueClick:
    """A click on a Home button or a hand-over DM's button; no response URL in the Home."""

    action_id: str
    value: str
    user_id: str
    trigger_id: str
    response_url: str | None


@dataclass(frozen=True)
class HandOverSubmission:
    item_id: str
    user_id: str
    to: str | None  # None: nobody picked


@dataclass(frozen=True)
class SlashCommand:
    text: str
    user_id: str
    channel_id: str
    response_url: str
    team_url: str | None  # https://<domain>.slack.com/, for links to messages


@dataclass(frozen=True)
class HomeOpened:
    user_id: str
    tab: str


@dataclass(frozen=True)
class ThreadReply:
    """A person's new reply in a thread."""

    channel: str
    thread_ts: str
    ts: str
    user_id: str
    text: str


@dataclass(frozen=True)
class ReplyEdited:
    channel: str
    ts: str
    text: str


@dataclass(frozen=True)
class ReplyDeleted:
    channel: str
    ts: str


@dataclass(frozen=True)
class IgnoredEvent:
    """An event hitl has nothing to do with (a bot's message, a top-level message, …)."""


QueuePayload = (
    QueueClick
    | HandOverSubmission
    | SlashCommand
    | HomeOpened
    | ThreadReply
    | ReplyEdited
    | ReplyDeleted
    | IgnoredEvent
)


def parse_queue(body: Any) -> QueuePayload | None:
    """The typed payload when the request is one of the queue's; None otherwise (the
    decision payloads of `handlers.payloads` and anything bolt answers itself)."""
    if not isinstance(body, dict):
        return None
    try:
        if body.get("type") == "block_actions" and _action_id(body) in QUEUE_ACTIONS:
            return _click(_QueueActions.model_validate(body))
        if body.get("type") == "view_submission" and _callback_id(body) == HAND_OVER_CALLBACK:
            return _hand_over(_HandOverSubmission.model_validate(body))
        if body.get("command") == COMMAND:
            return _slash(_SlashCommand.model_validate(body))
    except ValidationError as error:
        raise MalformedPayload(_summary(error)) from None
    if body.get("type") == "event_callback" and isinstance(body.get("event"), dict):
        return _event(body["event"])
    return None


def _action_id(body: dict[str, Any]) -> str | None:
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        action_id = actions[0].get("action_id")
        return action_id if isinstance(action_id, str) else None
    return None


def _callback_id(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    callback_id = view.get("callback_id") if isinstance(view, dict) else None
    return callback_id if isinstance(callback_id, str) else None


def _click(payload: _QueueActions) -> QueueClick:
    action = payload.actions[0]
    return QueueClick(
        action_id=action.action_id,
        value=action.value,
        user_id=payload.user.id,
        trigger_id=payload.trigger_id,
        response_url=payload.response_url,
    )


def _hand_over(payload: _HandOverSubmission) -> HandOverSubmission:
    chosen = payload.view.state.values.get(HAND_OVER_BLOCK, {}).get(HAND_OVER_INPUT)
    return HandOverSubmission(
        item_id=payload.view.private_metadata,
        user_id=payload.user.id,
        to=chosen.selected_user if chosen else None,
    )


def _slash(payload: _SlashCommand) -> SlashCommand:
    domain = payload.team_domain
    return SlashCommand(
        text=payload.text.strip(),
        user_id=payload.user_id,
        channel_id=payload.channel_id,
        response_url=payload.response_url,
        team_url=f"https://{domain}.slack.com/" if domain else None,
    )


class _HomeOpened(_Shape):
    type: Literal["app_home_opened"]
    user: UserId
    tab: Annotated[str, StringConstraints(max_length=40)] = "home"


class _Message(_Shape):
    type: Literal["message"]
    channel: ChannelId
    user: UserId
    text: Text = ""
    ts: MessageTs
    thread_ts: MessageTs | None = None
    subtype: str | None = None
    bot_id: str | None = None


class _Changed(_Shape):
    type: Literal["message"]
    subtype: Literal["message_changed"]
    channel: ChannelId
    message: _Message


class _Deleted(_Shape):
    type: Literal["message"]
    subtype: Literal["message_deleted"]
    channel: ChannelId
    deleted_ts: MessageTs


# Subtypes of a person's own reply (plain text, with a file, or also sent to the channel).
_REPLY_SUBTYPES = (None, "file_share", "thread_broadcast")


def _event(event: dict[str, Any]) -> QueuePayload:
    try:
        if event.get("type") == "app_home_opened":
            opened = _HomeOpened.model_validate(event)
            return HomeOpened(user_id=opened.user, tab=opened.tab)
        if event.get("type") != "message":
            return IgnoredEvent()
        subtype = event.get("subtype")
        if subtype == "message_changed":
            changed = _Changed.model_validate(event)
            if changed.message.bot_id is not None:
                return IgnoredEvent()
            return ReplyEdited(changed.channel, changed.message.ts, changed.message.text)
        if subtype == "message_deleted":
            deleted = _Deleted.model_validate(event)
            return ReplyDeleted(deleted.channel, deleted.deleted_ts)
        if subtype not in _REPLY_SUBTYPES or event.get("bot_id") is not None:
            return IgnoredEvent()  # bots (hitl's own thread notes too), joins, …
        message = _Message.model_validate(event)
        if message.thread_ts is None or message.thread_ts == message.ts:
            return IgnoredEvent()  # not a reply in a thread
        return ThreadReply(
            message.channel, message.thread_ts, message.ts, message.user, message.text
        )
    except ValidationError:
        return IgnoredEvent()


def _summary(error: ValidationError) -> str:
    first = error.errors(include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def queue_payload_in(context: dict[str, Any], kind: type[Any]) -> Any:
    """The payload of `kind` parsed for this request at the boundary."""
    parsed = context.get(CONTEXT_KEY)
    if not isinstance(parsed, kind):
        raise MalformedPayload(f"not a {kind.__name__}")
    return parsed

"""The Slack Web API methods the stand-in serves, with Slack's argument checks and errors."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .blockkit import check_message_blocks, check_view
from .socket_server import APP_ID

TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "example"
BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
USER_TZ = "Europe/Berlin"
TRIGGER_TTL = 3.0
MESSAGE_TEXT_MAX = 40_000

_CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_TS_BASE = 1_700_000_000
_VIEW_KEYS = (
    "type",
    "title",
    "close",
    "submit",
    "blocks",
    "private_metadata",
    "callback_id",
    "external_id",
    "clear_on_close",
    "notify_on_close",
    "submit_disabled",
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _flag_arg(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


class ApiError(Exception):
    """Raised by a method handler; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


def _invalid_arguments(reason: str, pointer: str) -> ApiError:
    return ApiError("invalid_arguments", [f"[ERROR] {reason} [json-pointer:{pointer}]"])


def _tz_offset() -> int:
    try:
        offset = datetime.now(ZoneInfo(USER_TZ)).utcoffset()
    except Exception:  # no tz database: fall back to CET
        return 3600
    return int(offset.total_seconds()) if offset is not None else 3600


class WebApi:
    """Workspace state and one handler per Web API method (``self.methods``).

    Handlers take the decoded arguments and return the response fields after ``ok``;
    they raise ``ApiError`` for Slack errors. Callers serialise access (one lock).
    """

    def __init__(self, known_channels: set[str] | None = None) -> None:
        self.known_channels = set(known_channels) if known_channels is not None else None
        # Channels the bot is not a member of: reading their history is `not_in_channel`.
        self.non_member_channels: set[str] = set()
        self._last_ts = 0.0
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}  # per-user overrides for users.info
        # User groups (S…) and their members, for usergroups.users.list; tests set them.
        self.usergroups: dict[str, list[str]] = {}
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._open_conversations: set[str] = set()
        self._home_views: dict[str, str] = {}
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self.methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    def clear(self) -> None:
        self.messages.clear()
        self.ephemerals.clear()
        self.views.clear()
        self.files.clear()
        self._triggers.clear()
        self._used_triggers.clear()
        self._open_conversations.clear()
        self._home_views.clear()

    def issue_trigger(self) -> str:
        trigger = f"{next(self._id_counter)}.{_TS_BASE}.{secrets.token_hex(16)}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    # Provided by the server that hosts these methods.

    def _socket_url(self) -> str:
        raise NotImplementedError

    def _upload_url(self, file_id: str) -> str:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------

    def _next_ts(self) -> str:
        """Like Slack's: the Unix time of the message, unique and increasing."""
        next(self._ts_counter)
        micros = max(int(time.time() * 1_000_000), int(self._last_ts * 1_000_000) + 100)
        self._last_ts = micros / 1_000_000
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._id_counter):08d}{secrets.token_hex(2).upper()}"

    def _channel(self, value: Any, *, allow_user: bool = False) -> str:
        if isinstance(value, str):
            if _CHANNEL_RE.fullmatch(value):
                if (
                    value[0] in "CG"
                    and self.known_channels is not None
                    and value not in self.known_channels
                ):
                    raise ApiError("channel_not_found")
                return value
            if allow_user and _USER_RE.fullmatch(value):
                return "D" + value[1:]
        raise ApiError("channel_not_found")

    @staticmethod
    def _user(value: Any) -> str:
        if isinstance(value, str) and _USER_RE.fullmatch(value):
            return value
        raise ApiError("user_not_found")

    @staticmethod
    def _content(args: dict[str, Any]) -> dict[str, Any]:
        """Checks text/blocks/attachments the way chat.* does; returns those given."""
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if blocks == "":
            blocks = None
        if not (text or blocks or attachments):
            raise ApiError("no_text")
        if text and len(text) > MESSAGE_TEXT_MAX:
            raise ApiError("msg_too_long")
        content: dict[str, Any] = {}
        if text is not None:
            content["text"] = text
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            errors = check_message_blocks(blocks)
            if errors:
                raise ApiError("invalid_blocks", errors)
            content["blocks"] = blocks
        if attachments is not None:
            if not isinstance(attachments, list):
                raise ApiError("invalid_attachments")
            content["attachments"] = attachments
        return content

    def _view_arg(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None or view == "":
            raise _invalid_arguments("missing required field: view", "/view")
        if not isinstance(view, dict):
            raise _invalid_arguments("must be a JSON object", "/view")
        errors = check_view(view)
        if errors:
            raise ApiError("invalid_arguments", errors)
        return view

    def _use_trigger(self, trigger: Any) -> None:
        if not trigger:
            raise _invalid_arguments("missing required field: trigger_id", "/trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise ApiError("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL:
            raise ApiError("expired_trigger_id")
        self._used_triggers.add(trigger)

    def _store_view(
        self, view: dict[str, Any], existing: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        view_id = existing["id"] if existing else self._new_id("V")
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": existing.get("external_id", "") if existing else "",
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
            "title": None,
            "close": None,
            "submit": None,
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": existing.get("previous_view_id") if existing else None,
            "root_view_id": existing["root_view_id"] if existing else view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        stored.update(copy.deepcopy({k: view[k] for k in _VIEW_KEYS if k in view}))
        self.views[view_id] = stored
        return stored

    # -- Web API methods --------------------------------------------------------

    def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("error"):
            raise ApiError(str(args["error"]))
        return {"args": args}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Example",
            "user": "hitl",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self._socket_url()}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"), allow_user=True)
        content = self._content(args)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            "text": "",
            **copy.deepcopy(content),
        }
        for key in ("thread_ts", "metadata", "username", "icon_emoji", "icon_url"):
            if args.get(key) not in (None, ""):
                message[key] = args[key]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _existing_message(self, channel: Any, ts: Any) -> tuple[str, str]:
        channel = self._channel(channel)
        if not isinstance(ts, str) or (channel, ts) not in self.messages:
            raise ApiError("message_not_found")
        return channel, ts

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = self._existing_message(args.get("channel"), args.get("ts"))
        content = self._content(args)
        message = dict(self.messages[key])
        for name in ("text", "blocks", "attachments"):
            if name in content:
                if content[name] == []:
                    message.pop(name, None)  # an empty array removes them, like Slack
                else:
                    message[name] = copy.deepcopy(content[name])
        if args.get("metadata") not in (None, ""):
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self.messages[key] = message
        text = message.get("text", "")
        return {"channel": key[0], "ts": key[1], "text": text, "message": message}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = self._existing_message(args.get("channel"), args.get("ts"))
        del self.messages[key]
        return {"channel": key[0], "ts": key[1]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = self._user(args.get("user"))
        content = self._content(args)
        ts = self._next_ts()
        self.ephemerals.append({"channel": channel, "user": user, "ts": ts, **content})
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._existing_message(args.get("channel"), args.get("message_ts"))
        permalink = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._channel(args["channel"])
            return {"channel": {"id": channel}, "no_op": True, "already_open": True}
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users or not isinstance(users, list):
            raise ApiError("users_list_not_supplied")
        ids = [self._user(u) for u in users]
        if len(ids) > 8:
            raise ApiError("too_many_users")
        if len(ids) == 1:
            channel = "D" + ids[0][1:]
        else:
            digest = hashlib.sha1(",".join(sorted(ids)).encode()).hexdigest()
            channel = "G" + digest[:10].upper()
        data: dict[str, Any] = {"channel": {"id": channel}}
        if channel in self._open_conversations:
            data.update(no_op=True, already_open=True)
        self._open_conversations.add(channel)
        return data

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        kind = channel[0]
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": kind == "C",
                "is_group": kind == "G",
                "is_im": kind == "D",
                "is_private": kind != "C",
                "is_archived": False,
                "is_member": True,
            }
        }

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, `oldest`/`latest` exclusive unless `inclusive`, cursor paging;
        message metadata only with `include_all_metadata`, thread replies left out."""
        channel = self._channel(args.get("channel"))
        if channel in self.non_member_channels:
            raise ApiError("not_in_channel")
        try:
            limit = int(args.get("limit") or 100)
            oldest = float(args.get("oldest") or 0)
            latest = float(args.get("latest") or time.time() + 1)
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        limit = min(max(limit, 1), 999)
        inclusive = _flag_arg(args.get("inclusive"))
        with_metadata = _flag_arg(args.get("include_all_metadata"))
        cursor = args.get("cursor")
        before: float | None = None
        if cursor:
            try:
                before = float(base64.b64decode(str(cursor)).decode().removeprefix("next_ts:"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError("invalid_cursor") from None

        def in_range(ts: float) -> bool:
            low = ts >= oldest if inclusive else ts > oldest
            high = ts <= latest if inclusive else ts < latest
            return low and high and (before is None or ts < before)

        found = sorted(
            (
                message
                for (message_channel, ts), message in self.messages.items()
                if message_channel == channel
                and message.get("thread_ts") in (None, ts)
                and in_range(float(ts))
            ),
            key=lambda message: float(message["ts"]),
            reverse=True,
        )
        page = [copy.deepcopy(message) for message in found[:limit]]
        for message in page:
            if not with_metadata:
                message.pop("metadata", None)
        has_more = len(found) > limit
        next_cursor = (
            base64.b64encode(f"next_ts:{page[-1]['ts']}".encode()).decode() if has_more else ""
        )
        return {
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user"))
        name = user.lower()
        real_name = f"User {user}"
        info: dict[str, Any] = {
            "id": user,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": USER_TZ,
            "tz_label": "Central European Time",
            "tz_offset": _tz_offset(),
            "is_admin": False,
            "is_bot": False,
            "profile": {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": name,
                "display_name_normalized": name,
                "email": f"{name}@example.com",
                "team": TEAM_ID,
            },
        }
        override = copy.deepcopy(self.users.get(user, {}))
        profile = override.pop("profile", {})
        info.update(override)
        info["profile"].update(profile)
        return {"user": info}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if not group:
            raise _invalid_arguments("missing required field: usergroup", "/usergroup")
        if not isinstance(group, str) or not re.fullmatch(r"S[A-Z0-9]{2,}", group):
            raise ApiError("invalid_usergroup")
        if group not in self.usergroups:
            raise ApiError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args)
        if view["type"] != "modal":
            raise _invalid_arguments("must be modal", "/view/type")
        self._use_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise ApiError("duplicate_external_id")
        return {"view": self._store_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("must provide view_id or external_id", "/view_id")
        view = self._view_arg(args)
        if view_id:
            existing = self.views.get(view_id)
        else:
            found = [v for v in self.views.values() if v.get("external_id") == external_id]
            existing = found[0] if found else None
        if existing is None:
            raise ApiError("not_found")
        if args.get("hash") and args["hash"] != existing["hash"]:
            raise ApiError("hash_conflict")
        return {"view": self._store_view(view, existing)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = self._view_arg(args)
        if view["type"] != "home":
            raise _invalid_arguments("must be home", "/view/type")
        existing = self.views.get(self._home_views.get(user, ""))
        stored = self._store_view(view, existing)
        self._home_views[user] = stored["id"]
        return {"view": stored}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not filename or not isinstance(filename, str):
            raise _invalid_arguments("missing required field: filename", "/filename")
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _invalid_arguments("missing required field: length", "/length") from None
        if length < 1:
            raise _invalid_arguments("must be at least 1", "/length")
        file_id = self._new_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "alt_txt": args.get("alt_txt"),
            "data": None,
            "completed": False,
        }
        return {"upload_url": self._upload_url(file_id), "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise _invalid_arguments("missing required field: files", "/files")
        entries = []
        for index, item in enumerate(files):
            file_id = item.get("id") if isinstance(item, dict) else None
            entry = self.files.get(file_id) if isinstance(file_id, str) else None
            if entry is None or entry["data"] is None or entry["completed"]:
                raise _invalid_arguments(f"file not uploaded: {file_id}", f"/files/{index}/id")
            entries.append((entry, item))
        channel = self._channel(args["channel_id"]) if args.get("channel_id") else None
        shared = []
        for entry, item in entries:
            entry["completed"] = True
            entry["title"] = item.get("title") or entry["name"]
            entry["channel"] = channel
            shared.append(
                {
                    "id": entry["id"],
                    "name": entry["name"],
                    "title": entry["title"],
                    "size": len(entry["data"]),
                    "user": BOT_USER_ID,
                }
            )
        if channel is not None:
            ts = self._next_ts()
            self.messages[(channel, ts)] = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": ts,
                "text": args.get("initial_comment") or "",
                "files": copy.deepcopy(shared),
                "upload": True,
                **({"thread_ts": args["thread_ts"]} if args.get("thread_ts") else {}),
            }
        return {"files": shared}

"""Block Kit checks applied the way Slack's Web API applies them.

Two layers: an explicit walk over the documented limits (which reports Slack-style
messages with a JSON pointer) and, when that walk finds nothing, a round trip through
``slack_sdk.models`` to catch what the walk does not cover.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100

_INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "file_input",
    }
)
_OTHER_ELEMENTS = frozenset({"button", "overflow", "image", "workflow_button"})
_ELEMENTS = _INPUT_ELEMENTS | _OTHER_ELEMENTS
_MODEL_ONLY_BLOCKS = frozenset({"rich_text", "file", "video", "markdown", "call", "table"})
_MODEL_EXCEPTIONS = (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError)


class _Checker:
    """Collects Slack-style error messages while walking a payload."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.block_ids: set[str] = set()

    # -- primitives -------------------------------------------------------------

    def fail(self, ptr: str, reason: str) -> None:
        self.errors.append(f"[ERROR] {reason} [json-pointer:{ptr}]")

    def string(
        self, obj: dict[str, Any], key: str, ptr: str, limit: int, *, required: bool = False
    ) -> str | None:
        value = obj.get(key)
        where = f"{ptr}/{key}"
        if value is None:
            if required:
                self.fail(where, f"missing required field: {key}")
            return None
        if not isinstance(value, str):
            self.fail(where, "must be a string")
            return None
        if not value:
            self.fail(where, "must be more than 0 characters")
        elif len(value) > limit:
            self.fail(where, f"must be less than {limit + 1} characters")
        return value

    def text_object(self, value: Any, ptr: str, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(value, dict):
            self.fail(ptr, "must be a text object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if value.get("type") not in allowed:
            self.fail(f"{ptr}/type", f"must be one of: {', '.join(allowed)}")
        self.string(value, "text", ptr, limit, required=True)

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        ptr: str,
        limit: int,
        *,
        plain_only: bool = False,
        required: bool = False,
    ) -> None:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"{ptr}/{key}", f"missing required field: {key}")
            return
        self.text_object(value, f"{ptr}/{key}", limit, plain_only=plain_only)

    def array(
        self, obj: dict[str, Any], key: str, ptr: str, low: int, high: int, *, required: bool = True
    ) -> list[Any]:
        value = obj.get(key)
        where = f"{ptr}/{key}"
        if value is None:
            if required:
                self.fail(where, f"missing required field: {key}")
            return []
        if not isinstance(value, list):
            self.fail(where, "must be an array")
            return []
        if len(value) < low:
            self.fail(where, f"must provide at least {low} items")
        elif len(value) > high:
            self.fail(where, f"no more than {high} items allowed")
        return value

    # -- blocks -----------------------------------------------------------------

    def blocks(self, blocks: Any, ptr: str, limit: int) -> None:
        if not isinstance(blocks, list):
            self.fail(ptr, "must be an array")
            return
        if len(blocks) > limit:
            self.fail(ptr, f"no more than {limit} items allowed")
        for index, block in enumerate(blocks):
            self.block(block, f"{ptr}/{index}")

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict):
            self.fail(ptr, "must be an object")
            return
        block_id = self.string(block, "block_id", ptr, 255)
        if block_id:
            if block_id in self.block_ids:
                self.fail(f"{ptr}/block_id", f"duplicate block_id: {block_id}")
            self.block_ids.add(block_id)
        block_type = block.get("type")
        check = getattr(self, f"_block_{block_type}", None) if isinstance(block_type, str) else None
        if check is not None:
            check(block, ptr)
        elif block_type not in _MODEL_ONLY_BLOCKS:
            self.fail(f"{ptr}/type", f"unsupported block type: {block_type!r}")

    def _block_section(self, block: dict[str, Any], ptr: str) -> None:
        if block.get("text") is None and not block.get("fields"):
            self.fail(ptr, "must provide either text or fields")
        self.text(block, "text", ptr, 3000)
        fields = self.array(block, "fields", ptr, 1, 10, required=False)
        for index, field in enumerate(fields):
            self.text_object(field, f"{ptr}/fields/{index}", 2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{ptr}/accessory", set())

    def _block_header(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block, "text", ptr, 150, plain_only=True, required=True)

    def _block_divider(self, block: dict[str, Any], ptr: str) -> None:
        return None

    def _block_image(self, block: dict[str, Any], ptr: str) -> None:
        self._image(block, ptr)
        self.text(block, "title", ptr, 2000, plain_only=True)

    def _block_context(self, block: dict[str, Any], ptr: str) -> None:
        for index, element in enumerate(self.array(block, "elements", ptr, 1, 10)):
            where = f"{ptr}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                self._image(element, where)
            else:
                self.text_object(element, where, 3000)

    def _block_actions(self, block: dict[str, Any], ptr: str) -> None:
        action_ids: set[str] = set()
        for index, element in enumerate(self.array(block, "elements", ptr, 1, 25)):
            self.element(element, f"{ptr}/elements/{index}", action_ids)

    def _block_input(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block, "label", ptr, 2000, plain_only=True, required=True)
        self.text(block, "hint", ptr, 2000, plain_only=True)
        element = block.get("element")
        if element is None:
            self.fail(f"{ptr}/element", "missing required field: element")
            return
        if isinstance(element, dict) and element.get("type") not in _INPUT_ELEMENTS:
            self.fail(f"{ptr}/element/type", f"not allowed in an input: {element.get('type')!r}")
        self.element(element, f"{ptr}/element", set())

    def _image(self, obj: dict[str, Any], ptr: str) -> None:
        if obj.get("slack_file") is None:
            self.string(obj, "image_url", ptr, 3000, required=True)
        self.string(obj, "alt_text", ptr, 2000, required=True)

    # -- elements ---------------------------------------------------------------

    def element(self, element: Any, ptr: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict):
            self.fail(ptr, "must be an object")
            return
        element_type = element.get("type")
        if element_type not in _ELEMENTS:
            self.fail(f"{ptr}/type", f"unsupported element type: {element_type!r}")
            return
        action_id = self.string(element, "action_id", ptr, 255)
        if action_id:
            if action_id in action_ids:
                self.fail(f"{ptr}/action_id", f"duplicate action_id: {action_id}")
            action_ids.add(action_id)
        self.text(element, "placeholder", ptr, 150, plain_only=True)
        if element.get("confirm") is not None:
            self._confirm(element["confirm"], f"{ptr}/confirm")
        check = getattr(self, f"_element_{element_type}", None)
        if check is not None:
            check(element, ptr)

    def _element_button(self, element: dict[str, Any], ptr: str) -> None:
        self.text(element, "text", ptr, 75, plain_only=True, required=True)
        self.string(element, "value", ptr, 2000)
        self.string(element, "url", ptr, 3000)
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.fail(f"{ptr}/style", "must be one of: primary, danger")

    def _element_image(self, element: dict[str, Any], ptr: str) -> None:
        self._image(element, ptr)

    def _element_static_select(self, element: dict[str, Any], ptr: str) -> None:
        values: set[str] = set()
        if element.get("option_groups") is not None:
            groups = self.array(element, "option_groups", ptr, 1, 100)
            for g_index, group in enumerate(groups):
                where = f"{ptr}/option_groups/{g_index}"
                if not isinstance(group, dict):
                    self.fail(where, "must be an object")
                    continue
                self.text(group, "label", where, 75, plain_only=True, required=True)
                for index, option in enumerate(self.array(group, "options", where, 1, 100)):
                    values |= self._option(option, f"{where}/options/{index}")
        else:
            for index, option in enumerate(self.array(element, "options", ptr, 1, 100)):
                values |= self._option(option, f"{ptr}/options/{index}")
        self._initial_options(element, ptr, values)

    _element_multi_static_select = _element_static_select

    def _element_overflow(self, element: dict[str, Any], ptr: str) -> None:
        for index, option in enumerate(self.array(element, "options", ptr, 1, 5)):
            self._option(option, f"{ptr}/options/{index}")

    def _element_checkboxes(self, element: dict[str, Any], ptr: str) -> None:
        values: set[str] = set()
        for index, option in enumerate(self.array(element, "options", ptr, 1, 10)):
            values |= self._option(option, f"{ptr}/options/{index}", mrkdwn=True)
        self._initial_options(element, ptr, values)

    _element_radio_buttons = _element_checkboxes

    def _element_plain_text_input(self, element: dict[str, Any], ptr: str) -> None:
        initial = element.get("initial_value")
        if initial is not None:
            if not isinstance(initial, str):
                self.fail(f"{ptr}/initial_value", "must be a string")
                initial = None
            elif len(initial) > 3000:
                self.fail(f"{ptr}/initial_value", "must be less than 3001 characters")
        for key in ("min_length", "max_length"):
            value = element.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(f"{ptr}/{key}", "must be an integer")
            elif not (0 if key == "min_length" else 1) <= value <= 3000:
                self.fail(f"{ptr}/{key}", "must be at most 3000")
        max_length = element.get("max_length")
        if isinstance(initial, str) and isinstance(max_length, int) and len(initial) > max_length:
            self.fail(f"{ptr}/initial_value", f"must be less than {max_length + 1} characters")

    def _element_number_input(self, element: dict[str, Any], ptr: str) -> None:
        decimal = element.get("is_decimal_allowed")
        if not isinstance(decimal, bool):
            self.fail(f"{ptr}/is_decimal_allowed", "missing required field: is_decimal_allowed")
            decimal = True
        numbers: dict[str, float] = {}
        for key in ("initial_value", "min_value", "max_value"):
            value = element.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                self.fail(f"{ptr}/{key}", "must be a string")
                continue
            pattern = r"-?\d+(\.\d+)?" if decimal else r"-?\d+"
            if not re.fullmatch(pattern, value):
                what = "a number" if decimal else "an integer (is_decimal_allowed is false)"
                self.fail(f"{ptr}/{key}", f"must be {what}")
                continue
            numbers[key] = float(value)
        low, high = numbers.get("min_value"), numbers.get("max_value")
        if low is not None and high is not None and low > high:
            self.fail(f"{ptr}/min_value", "must be less than or equal to max_value")
        initial = numbers.get("initial_value")
        if initial is not None and (
            (low is not None and initial < low) or (high is not None and initial > high)
        ):
            self.fail(f"{ptr}/initial_value", "must be between min_value and max_value")

    def _element_datepicker(self, element: dict[str, Any], ptr: str) -> None:
        initial = element.get("initial_date")
        if initial is None:
            return
        try:
            valid = isinstance(initial, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", initial))
            valid = valid and date.fromisoformat(initial) is not None
        except ValueError:
            valid = False
        if not valid:
            self.fail(f"{ptr}/initial_date", "must be a date in the format YYYY-MM-DD")

    def _option(self, option: Any, ptr: str, *, mrkdwn: bool = False) -> set[str]:
        if not isinstance(option, dict):
            self.fail(ptr, "must be an object")
            return set()
        self.text(option, "text", ptr, 75, plain_only=not mrkdwn, required=True)
        self.text(option, "description", ptr, 75, plain_only=not mrkdwn)
        self.string(option, "url", ptr, 3000)
        value = self.string(option, "value", ptr, 150, required=True)
        return {value} if value else set()

    def _initial_options(self, element: dict[str, Any], ptr: str, values: set[str]) -> None:
        initial: list[tuple[str, Any]] = []
        if element.get("initial_option") is not None:
            initial.append(("initial_option", element["initial_option"]))
        if isinstance(element.get("initial_options"), list):
            initial += [
                (f"initial_options/{i}", o) for i, o in enumerate(element["initial_options"])
            ]
        for where, option in initial:
            value = option.get("value") if isinstance(option, dict) else None
            if value not in values:
                self.fail(f"{ptr}/{where}", "must match one of the provided options")

    def _confirm(self, confirm: Any, ptr: str) -> None:
        if not isinstance(confirm, dict):
            self.fail(ptr, "must be an object")
            return
        self.text(confirm, "title", ptr, 100, plain_only=True, required=True)
        self.text(confirm, "text", ptr, 300, required=True)
        self.text(confirm, "confirm", ptr, 30, plain_only=True, required=True)
        self.text(confirm, "deny", ptr, 30, plain_only=True, required=True)


def _model_errors(blocks: list[Any], ptr: str) -> list[str]:
    errors: list[str] = []
    for index, block in enumerate(blocks):
        try:
            parsed = Block.parse(block)
            if parsed is not None:
                parsed.to_dict()  # validates nested objects too
        except _MODEL_EXCEPTIONS as exc:
            errors.append(f"[ERROR] {exc} [json-pointer:{ptr}/{index}]")
    return errors


def check_message_blocks(blocks: Any) -> list[str]:
    """Errors Slack would report for a message's ``blocks`` (empty when valid)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", MESSAGE_BLOCKS_MAX)
    if checker.errors:
        return checker.errors
    return _model_errors(blocks, "/blocks")


def check_view(view: Any) -> list[str]:
    """Errors Slack would report for a modal or Home tab ``view`` (empty when valid)."""
    checker = _Checker()
    ptr = "/view"
    if not isinstance(view, dict):
        return [f"[ERROR] must be an object [json-pointer:{ptr}]"]
    view_type = view.get("type")
    if view_type not in ("modal", "home"):
        checker.fail(f"{ptr}/type", "must be one of: modal, home")
    blocks = view.get("blocks")
    if view_type == "modal":
        checker.text(view, "title", ptr, 24, plain_only=True, required=True)
        checker.text(view, "close", ptr, 24, plain_only=True)
        checker.text(view, "submit", ptr, 24, plain_only=True)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            checker.fail(f"{ptr}/submit", "submit is required when an input block is present")
    elif view_type == "home":
        for key in ("close", "submit"):
            if view.get(key) is not None:
                checker.fail(f"{ptr}/{key}", f"home views cannot have {key}")
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            checker.fail(f"{ptr}/{key}", "must be a string")
        elif isinstance(value, str) and len(value) > limit:
            checker.fail(f"{ptr}/{key}", f"must be less than {limit + 1} characters")
    if blocks is None:
        checker.fail(f"{ptr}/blocks", "missing required field: blocks")
    else:
        checker.blocks(blocks, f"{ptr}/blocks", VIEW_BLOCKS_MAX)
        if isinstance(blocks, list) and not blocks:
            checker.fail(f"{ptr}/blocks", "must provide at least 1 items")
    if checker.errors:
        return checker.errors
    try:
        View(**view).to_dict()
    except _MODEL_EXCEPTIONS as exc:
        return [f"[ERROR] {exc} [json-pointer:{ptr}]"]
    return []


def check_view_submission_answer(answer: Any, view: dict[str, Any]) -> list[str]:
    """Errors Slack would report for an app's answer to a ``view_submission`` with
    ``response_action: errors``: each key must name an input block of the submitted view,
    each message must be non-empty text."""
    if not isinstance(answer, dict) or answer.get("response_action") != "errors":
        return ["[ERROR] not a response_action: errors answer"]
    errors = answer.get("errors")
    if not isinstance(errors, dict) or not errors:
        return ["[ERROR] errors must be a non-empty object [json-pointer:/errors]"]
    inputs = {
        block.get("block_id")
        for block in view.get("blocks", [])
        if isinstance(block, dict) and block.get("type") == "input"
    }
    found = []
    for block_id, message in errors.items():
        if block_id not in inputs:
            found.append(f"[ERROR] no input block {block_id!r} [json-pointer:/errors/{block_id}]")
        if not isinstance(message, str) or not message:
            found.append(f"[ERROR] must be a non-empty string [json-pointer:/errors/{block_id}]")
    return found

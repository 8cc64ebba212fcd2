"""`require_review`: a function that runs only once a person approved its arguments.

The call's arguments become a structured item whose schema comes from the function's type
hints, so the reviewer edits each argument with the right input (number, date, choice…);
the function then runs with the approved, possibly edited, arguments.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar, Union

from hitl_client.async_client import AsyncClient
from hitl_client.client import Client
from hitl_client.errors import Cancelled, Expired, Rejected
from hitl_client.models import Review

F = TypeVar("F", bound=Callable[..., Any])
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    date: {"type": "string", "format": "date"},
}
_NO_VALUE = object()


class UnsupportedSignature(TypeError):
    """The function's parameters cannot be shown as a form (raised when decorating)."""


def require_review(
    client: Client | AsyncClient,
    *,
    workflow: str,
    confidence: float | Callable[..., float] = 0.5,
    title: str | Callable[..., str] | None = None,
    timeout: float | None = None,
    context: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Decorates a sync or async function: each call is submitted to hitl and waited on;
    the function runs with the approved arguments. `confidence` and `title` may be
    functions of the call's arguments (by name); `title` may also be a template of them,
    "Refund {order_id}". A rejection raises `Rejected`, an expiry
    `Expired`, a cancel `Cancelled`; a wait past `timeout` raises `WaitTimeout`."""

    def decorate(function: F) -> F:
        form = _Form.of(function)
        is_async = inspect.iscoroutinefunction(function)
        if isinstance(client, AsyncClient) and not is_async:
            raise UnsupportedSignature(
                f"{function.__qualname__} is not async: use hitl_client.Client with it."
            )

        def submission(arguments: dict[str, Any]) -> dict[str, Any]:
            shown_title: str | None
            if callable(title):
                shown_title = title(**arguments)
            else:  # a template: "Refund {order_id}"
                shown_title = title.format(**arguments) if title else None
            return {
                "workflow": workflow,
                "title": shown_title or f"{function.__name__}({form.summary(arguments)})",
                "output": form.output(arguments),
                "confidence": confidence(**arguments) if callable(confidence) else confidence,
                "output_schema": form.schema,
                "context": {"function": function.__qualname__, **(context or {})},
                "timeout": timeout,
            }

        if is_async:

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                fields = submission(form.bind(args, kwargs))
                if isinstance(client, AsyncClient):
                    review = await client.review(**fields)
                else:  # a blocking client must not stall the event loop
                    review = await asyncio.to_thread(lambda: client.review(**fields))
                return await function(**form.approved(_approved(review)))

            return typing.cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            assert isinstance(client, Client)
            review = client.review(**submission(form.bind(args, kwargs)))
            return function(**form.approved(_approved(review)))

        return typing.cast(F, run)

    return decorate


def _approved(review: Review) -> dict[str, Any]:
    if review.status == "rejected":
        raise Rejected(review)
    if review.status == "expired":
        raise Expired(review)
    if review.status == "cancelled":
        raise Cancelled(review)
    final = review.final_output
    assert isinstance(final, dict), "a structured item's final output is an object"
    return final


class _Form:
    """A function's parameters as a flat JSON Schema object, and back."""

    def __init__(
        self, signature: inspect.Signature, kinds: dict[str, Any], schema: dict[str, Any]
    ) -> None:
        self.signature = signature
        self.kinds = kinds  # parameter name -> its Python type (without None)
        self.schema = schema

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _Form:
        name = function.__qualname__
        signature = inspect.signature(function)
        try:
            hints = typing.get_type_hints(function)
        except Exception as error:
            raise UnsupportedSignature(f"{name}: its type hints cannot be read: {error}") from None
        kinds: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for parameter in signature.parameters.values():
            where = f"{name}({parameter.name})"
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise UnsupportedSignature(f"{where}: *args and **kwargs cannot be reviewed.")
            if parameter.name not in hints:
                raise UnsupportedSignature(f"{where}: needs a type hint.")
            kind, optional = _unwrap_optional(hints[parameter.name])
            if optional and parameter.default is not None:
                raise UnsupportedSignature(f"{where}: an Optional parameter needs default None.")
            properties[parameter.name] = _field_schema(kind, where)
            kinds[parameter.name] = kind
            if parameter.default is inspect.Parameter.empty:
                required.append(parameter.name)
        schema = {"type": "object", "properties": properties, "required": required}
        return cls(signature, kinds, schema)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def output(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """JSON values; None (an optional argument left out) is not sent."""
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in arguments.items()
            if value is not None
        }

    def summary(self, arguments: dict[str, Any]) -> str:
        text = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
        return text if len(text) <= 150 else text[:149] + "…"

    def approved(self, final_output: Mapping[str, Any]) -> dict[str, Any]:
        """The approved JSON values as the function's argument types."""
        values: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            value = final_output.get(name, _NO_VALUE)
            if value is _NO_VALUE or value is None:
                default = self.signature.parameters[name].default
                values[name] = None if default is inspect.Parameter.empty else default
                continue
            values[name] = _from_json(kind, value)
        return values


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        members = [member for member in typing.get_args(hint) if member is not type(None)]
        if len(members) == 1 and len(typing.get_args(hint)) == 2:
            return members[0], True
    return hint, False


def _field_schema(kind: Any, where: str) -> dict[str, Any]:
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if not all(isinstance(choice, str) for choice in choices):
            raise UnsupportedSignature(f"{where}: a Literal may hold strings only.")
        return {"enum": list(choices)}
    if kind is datetime or kind not in _SCALARS:
        raise UnsupportedSignature(
            f"{where}: {getattr(kind, '__name__', kind)} cannot be reviewed; use str, int, "
            "float, bool, date, a Literal of strings, or one of these | None."
        )
    return dict(_SCALARS[kind])


def _from_json(kind: Any, value: Any) -> Any:
    if kind is date and isinstance(value, str):
        return date.fromisoformat(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value

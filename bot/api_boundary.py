"""The HTTP edge of the agent API: size limit, strict JSON, and one error shape for every
failure (401…503), so no client ever sees FastAPI's `{"detail": …}` or a plain-text 500."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import strict_json
from bot.api_models import STRUCTURED_ERROR, ErrorOut, FieldError

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5
# Database errors that mean "unreachable or busy for now", not a bug: answered 503.
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class ApiError(HTTPException):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status, detail=message)
        self.error = error
        self.extra = extra


def error_response(
    status: int,
    error: str,
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    dumped = ErrorOut(error=error, message=message, **extra).model_dump(mode="json")
    # Optional parts are left out when empty; the item inside keeps its nulls.
    body = {key: value for key, value in dumped.items() if value is not None}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status_code, error.error, str(error.detail), **error.extra)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(
            error.status_code, codes.get(error.status_code, "http_error"), str(error.detail)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [FieldError(field=_where(issue), message=issue["msg"]) for issue in error.errors()]
        return error_response(
            422, "invalid_request", "The request has invalid fields.", errors=fields
        )

    for unavailable in _UNAVAILABLE:

        @app.exception_handler(unavailable)
        async def _database_down(_request: Request, error: Exception) -> JSONResponse:
            log.warning("API: database unavailable: %s", str(error).splitlines()[0])
            return error_response(
                503,
                "database_unavailable",
                "The database is unavailable; nothing was changed. Try again shortly.",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )

    @app.exception_handler(Exception)
    async def _internal(_request: Request, error: Exception) -> JSONResponse:
        log.error("API: internal error", exc_info=error)
        return error_response(500, "internal_error", "Something went wrong inside hitl.")


def _where(issue: Any) -> str:
    """A structured output's problem names its own place (`output.amount`)."""
    if issue.get("type") == STRUCTURED_ERROR:
        return str(issue["ctx"]["path"])
    return field_path(issue["loc"])


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


class BodyLimit:
    """Refuses bodies over the limit with 413, whether or not they declare their length,
    and refuses /v1 bodies that are not strict JSON (`strict_json`) with 422.

    The body is read here, up to the limit, and replayed to the app, so the app parses
    only bodies already known to be acceptable.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip() and _is_api_write(scope):
            # A big body takes milliseconds to check: off the event loop, like the routes.
            parse = strict_json.parse
            _parsed, problem = (
                await run_in_threadpool(parse, body) if len(body) > 65_536 else parse(body)
            )
            if problem is not None:
                response = error_response(
                    422,
                    "invalid_request",
                    "The request body is not acceptable JSON; nothing was stored.",
                    errors=[FieldError(field=problem.path, message=problem.message)],
                )
                await response(scope, _no_receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = error_response(
            413, "body_too_large", f"The request body is over {self.limit} bytes."
        )
        await response(scope, _no_receive, send)


def _is_api_write(scope: Scope) -> bool:
    return scope.get("method") in _BODY_METHODS and str(scope.get("path", "")).startswith("/v1/")


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}

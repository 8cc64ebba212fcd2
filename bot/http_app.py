"""The HTTP server: agent API, Slack endpoint, health, metrics and OpenAPI, on one port."""

import hmac
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import service
from bot.api_models import CancelRequest, ErrorOut, FieldError, ReviewOut, ReviewRequest
from bot.metrics import Metrics
from bot.rules_provider import RulesProvider
from bot.signals import ChangeSignals
from storage import reviews
from storage.db import Database
from storage.models import Status
from storage.reviews import Outcome

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
_DB_RECHECK_SECONDS = 0.5  # long-polls also see decisions made by other replicas


class ApiError(HTTPException):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status, detail=message)
        self.error = error
        self.extra = extra


class BodyLimit:
    """Refuses bodies over the limit with 413, whether or not they declare their length.

    The body is read here, up to the limit, and replayed to the app: a frame that raises
    inside the app would be turned into a 400 by FastAPI's body parsing.
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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = _error_response(
            413, "body_too_large", f"The request body is over {self.limit} bytes."
        )
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    body = ErrorOut(error=error, message=message, **extra).model_dump(
        mode="json", exclude_none=True
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def create_http_app(
    *,
    db: Database,
    rules: RulesProvider,
    agent_tokens: dict[str, str],
    signals: ChangeSignals,
    metrics: Metrics,
    bolt_app: App | None,
    max_body_bytes: int,
    now: Callable[[], datetime],
) -> FastAPI:
    app = FastAPI(
        title="hitl agent API",
        version="1",
        description="Submit AI agent outputs for human review in Slack and get the decision.",
    )
    token_items = list(agent_tokens.items())

    def agent_of(request: Request) -> str:
        """Constant-time comparison against every configured token."""
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise ApiError(401, "unauthorized", "Send Authorization: Bearer <token>.")
        agent = None
        for token, name in token_items:
            if hmac.compare_digest(token.encode(), presented.strip().encode()):
                agent = name
        if agent is None:
            raise ApiError(401, "unauthorized", "The token is not valid.")
        return agent

    Agent = Annotated[str, Depends(agent_of)]

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return _error_response(error.status_code, error.error, str(error.detail), **error.extra)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
        return _error_response(error.status_code, "http_error", str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            FieldError(field=_field_path(issue["loc"]), message=issue["msg"])
            for issue in error.errors()
        ]
        return _error_response(
            422, "invalid_request", "The request has invalid fields.", errors=fields
        )

    def _item_response(item_id: str, status: int = 200) -> JSONResponse:
        item = reviews.get_item(db, item_id)
        assert item is not None
        body = ReviewOut.of(item, reviews.get_decision(db, item_id))
        return JSONResponse(body.model_dump(mode="json"), status_code=status)

    @app.post(
        "/v1/reviews",
        status_code=201,
        response_model=ReviewOut,
        responses={
            200: {"model": ReviewOut},
            401: {"model": ErrorOut},
            413: {"model": ErrorOut},
            422: {"model": ErrorOut},
        },
        summary="Submit an item for review",
    )
    def submit_review(request: ReviewRequest, agent: Agent) -> JSONResponse:
        result = service.submit(db, rules.current(), agent=agent, request=request, now=now())
        if isinstance(result, service.NoRoute):
            raise ApiError(
                422,
                "no_route",
                f"No route in the rules matches workflow {result.workflow!r} "
                f"from agent {result.agent!r}, and the rules name no fallback.",
            )
        if result.created:
            metrics.submitted.labels(result.item.route, result.item.status).inc()
            signals.changed(result.item.id)
            if result.item.deadline is not None:
                signals.deadline(result.item.deadline)
        body = ReviewOut.of(result.item, result.decision).model_dump(mode="json")
        return JSONResponse(body, status_code=201 if result.created else 200)

    @app.get(
        "/v1/reviews/{item_id}",
        response_model=ReviewOut,
        responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
        summary="An item's status and decision; ?wait=N long-polls until it is decided",
    )
    async def get_review(
        item_id: str,
        agent: Agent,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    ) -> JSONResponse:
        deadline = time.monotonic() + wait
        while True:
            item = await run_in_threadpool(reviews.get_item, db, item_id)
            if item is None or item.agent != agent:
                raise ApiError(404, "not_found", f"No item {item_id} for agent {agent}.")
            remaining = deadline - time.monotonic()
            if item.status != Status.PENDING or remaining <= 0:
                return await run_in_threadpool(_item_response, item_id)
            await signals.wait(item_id, min(remaining, _DB_RECHECK_SECONDS))

    @app.post(
        "/v1/reviews/{item_id}/cancel",
        response_model=ReviewOut,
        responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
        summary="Withdraw an undecided item",
    )
    def cancel_review(
        item_id: str, agent: Agent, body: CancelRequest | None = None
    ) -> JSONResponse:
        result = service.cancel(
            db, item_id, agent=agent, reason=body.reason if body else None, now=now()
        )
        if result.outcome == Outcome.NOT_FOUND:
            raise ApiError(404, "not_found", f"No item {item_id} for agent {agent}.")
        if result.outcome == Outcome.ALREADY_DECIDED:
            assert result.item is not None
            current = ReviewOut.of(result.item, result.decision)
            raise ApiError(
                409,
                "already_decided",
                f"The item is already {result.item.status}; it can no longer be cancelled.",
                item=current,
            )
        metrics.decided.labels(Status.CANCELLED, "api").inc()
        signals.changed(item_id)
        return _item_response(item_id)

    @app.get("/healthz", summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            db.ping()
        except Exception as error:
            log.warning("health check: database unreachable: %s", error)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "database": "ok", "rules_version": rules.current().version}
        )

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if bolt_app is not None:

        @app.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            bolt_request = to_bolt_request(request, body)
            # Bolt is synchronous: keep it off the event loop.
            bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
            return to_starlette_response(bolt_response)

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"

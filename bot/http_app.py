"""The HTTP server: agent API, Slack endpoint, health, metrics and OpenAPI, on one port."""

import hmac
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime
from slack_bolt import App

import commands
from bot.alert_models import AlertListOut, AlertOut
from bot.api_boundary import ApiError, BodyLimit, install_error_handlers
from bot.api_models import CancelRequest, FieldError, ReviewListOut, ReviewOut, ReviewRequest
from bot.egress import EgressPolicy, EgressRefused
from bot.metrics import Metrics
from bot.openapi_doc import error_responses, install_openapi, new_app
from bot.rules_provider import RulesProvider
from bot.signals import ChangeSignals
from bot.slack_endpoint import add_slack_endpoint
from commands import EventBus
from storage import alert_queries, listing, queue, reviews
from storage.db import Database
from storage.models import AlertStatus, Status
from storage.reviews import NewItem, Outcome

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
_DB_RECHECK_SECONDS = 0.5  # long-polls also see decisions made by other replicas

# Printable ASCII: a NUL or a surrogate would make PostgreSQL fail rather than not find.
_PLAUSIBLE_ITEM_ID = re.compile(r"[\x21-\x7e]{1,100}")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `HITL_API_TOKENS`; the token names the agent.",
)


def create_http_app(
    *,
    db: Database,
    rules: RulesProvider,
    agent_tokens: dict[str, str],
    signals: ChangeSignals,
    metrics: Metrics,
    events: EventBus,
    bolt_app: App | None,
    max_body_bytes: int,
    now: Callable[[], datetime],
    callback_egress: EgressPolicy | None = None,
) -> FastAPI:
    app = new_app()
    install_error_handlers(app)
    egress = callback_egress or EgressPolicy()
    token_items = list(agent_tokens.items())

    def agent_of(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        """Constant-time comparison against every configured token."""
        if credentials is None or not credentials.credentials.strip():
            raise ApiError(401, "unauthorized", "Send Authorization: Bearer <token>.")
        presented = credentials.credentials.strip().encode()
        agent = None
        for token, name in token_items:
            if hmac.compare_digest(token.encode(), presented):
                agent = name
        if agent is None:
            raise ApiError(401, "unauthorized", "The token is not valid.")
        return agent

    Agent = Annotated[str, Depends(agent_of)]

    def _found(item_id: str, agent: str) -> None:
        """404 for ids that cannot be an item's, before they reach the database."""
        if not _PLAUSIBLE_ITEM_ID.fullmatch(item_id):
            raise ApiError(404, "not_found", f"No item {item_id[:100]!r} for agent {agent}.")

    def _item_response(item_id: str, status: int = 200) -> JSONResponse:
        item = reviews.get_item(db, item_id)
        assert item is not None
        decision = reviews.get_decision(db, item_id)
        body = ReviewOut.of(
            item,
            decision,
            reviews.decision_approvers(db, item),
            comments=queue.comments_of(db, item_id),
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=status)

    def _check_callback(request: ReviewRequest) -> None:
        if request.callback_url is None:
            return
        try:
            egress.check_url(str(request.callback_url))
        except EgressRefused as refused:
            raise ApiError(
                422,
                "invalid_request",
                "The request has invalid fields.",
                errors=[FieldError(field="callback_url", message=str(refused))],
            ) from None

    @app.post(
        "/v1/reviews",
        status_code=201,
        response_model=ReviewOut,
        responses={
            200: {
                "model": ReviewOut,
                "description": "An item with this `external_id` and the same body exists; "
                "it is returned and nothing new is posted.",
            },
            201: {"description": "Created: pending, or auto-approved by the route."},
            **error_responses(401, 409, 413, 422, 503),
        },
        summary="Submit an item for review",
        operation_id="submit_review",
        description="Posts the item to the route's Slack channel. Bad input is refused as a "
        "whole (422) before anything is written.",
    )
    def submit_review(request: ReviewRequest, agent: Agent) -> JSONResponse:
        _check_callback(request)
        new = _new_item(request, agent)
        result = commands.submit(db, rules.current(), new, now=now(), events=events)
        if isinstance(result, commands.NoRoute):
            raise ApiError(
                422,
                "no_route",
                f"No route in the rules matches workflow {result.workflow!r} "
                f"from agent {result.agent!r}, and the rules name no fallback.",
            )
        if isinstance(result, commands.ExternalIdConflict):
            existing = result.existing
            raise ApiError(
                409,
                "external_id_conflict",
                f"external_id {existing.item.external_id!r} was already used for item "
                f"{existing.item.id} with a different {', '.join(result.fields)}; send a new "
                "external_id for a new item.",
                item=ReviewOut.of(
                    existing.item,
                    existing.decision,
                    reviews.decision_approvers(db, existing.item),
                ),
            )
        body = ReviewOut.of(result.item, result.decision).model_dump(mode="json")
        return JSONResponse(body, status_code=201 if result.created else 200)

    @app.get(
        "/v1/reviews",
        response_model=ReviewListOut,
        responses=error_responses(401, 422, 503),
        summary="The calling agent's items",
        operation_id="list_reviews",
        description="Newest first, a page at a time: send `next_cursor` back as `cursor` "
        "with the same filters for the next page. Items submitted meanwhile never shift "
        "a page.",
    )
    def list_reviews(
        agent: Agent,
        status: Annotated[Status | None, Query(description="Only items in this status.")] = None,
        workflow: Annotated[str | None, Query(max_length=200, examples=["ap-invoices"])] = None,
        route: Annotated[str | None, Query(max_length=200, examples=["invoices"])] = None,
        since: Annotated[
            datetime | None, Query(description="Only items submitted at or after this time.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> JSONResponse:
        filters = listing.Filters(agent, status, workflow, route, since)
        after = _position(cursor, filters)
        page = listing.list_items(db, filters, limit=limit, after=after)
        body = ReviewListOut(
            items=[
                ReviewOut.of(item, decision, reviews.decision_approvers(db, item))
                for item, decision in page.items
            ],
            next_cursor=page.next_cursor,
        )
        return JSONResponse(body.model_dump(mode="json"))

    @app.get(
        "/v1/alerts",
        response_model=AlertListOut,
        responses=error_responses(401, 422, 503),
        summary="Drift alerts",
        operation_id="list_alerts",
        description="Significant rises of a workflow's rejection or edit rate, newest "
        "detected first, a page at a time like `GET /v1/reviews`. Any valid token reads "
        "every workflow's alerts: they describe workflows, not one agent's items.",
    )
    def list_alerts(
        _agent: Agent,
        workflow: Annotated[str | None, Query(max_length=200, examples=["ap-invoices"])] = None,
        status: Annotated[
            AlertStatus | None, Query(description="Only open or only closed alerts.")
        ] = None,
        since: Annotated[
            AwareDatetime | None,
            Query(
                description="Only alerts detected at or after this time (with a zone).",
                examples=["2026-11-20T00:00:00Z"],
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=alert_queries.MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> JSONResponse:
        filters = alert_queries.AlertFilters(workflow, status, since)
        after = _position(cursor, filters)
        page = alert_queries.list_alerts(db, filters, limit=limit, after=after)
        body = AlertListOut(
            alerts=[AlertOut.of(alert) for alert in page.alerts], next_cursor=page.next_cursor
        )
        return JSONResponse(body.model_dump(mode="json"))

    @app.get(
        "/v1/reviews/{item_id}",
        response_model=ReviewOut,
        responses=error_responses(401, 404, 422, 503),
        summary="An item's status and decision",
        operation_id="get_review",
        description="With `wait`, long-polls: answers as soon as the item is decided, or "
        "with the pending item when `wait` seconds have passed.",
    )
    async def get_review(
        item_id: str,
        agent: Agent,
        wait: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_WAIT_SECONDS,
                description=f"Seconds to wait for a decision, 0 to {MAX_WAIT_SECONDS}.",
                examples=[30],
            ),
        ] = 0,
    ) -> JSONResponse:
        _found(item_id, agent)
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
        responses=error_responses(401, 404, 409, 413, 422, 503),
        summary="Withdraw an undecided item",
        operation_id="cancel_review",
        description="Cancelling an item that is already cancelled answers 200 with it; an "
        "item decided otherwise answers 409 with the item.",
    )
    def cancel_review(
        item_id: str, agent: Agent, body: CancelRequest | None = None
    ) -> JSONResponse:
        _found(item_id, agent)
        result = commands.cancel(
            db, item_id, agent=agent, reason=body.reason if body else None, now=now(), events=events
        )
        if result.outcome == Outcome.NOT_FOUND:
            raise ApiError(404, "not_found", f"No item {item_id} for agent {agent}.")
        if result.outcome == Outcome.ALREADY_DECIDED:
            assert result.item is not None
            current = ReviewOut.of(
                result.item, result.decision, reviews.decision_approvers(db, result.item)
            )
            if result.item.status == Status.CANCELLED:  # a retried cancel: same answer
                return JSONResponse(current.model_dump(mode="json"))
            raise ApiError(
                409,
                "already_decided",
                f"The item is already {result.item.status}; it can no longer be cancelled.",
                item=current,
            )
        return _item_response(item_id)

    @app.get("/healthz", summary="Database reachability and background loops' progress")
    def healthz() -> JSONResponse:
        # 503 also when a background loop (outbox, escalation clock, digest job, heartbeat)
        # keeps failing or has not completed a cycle recently: the process is up but stuck.
        loops = metrics.health.problems()
        try:
            db.ping()
        except Exception as error:
            log.warning("health check: database unreachable: %s", error)
            body = {"status": "error", "database": "unreachable", "loops": loops}
            return JSONResponse(body, status_code=503)
        if loops:
            log.warning("health check: loops failing: %s", loops)
            body = {"status": "error", "database": "ok", "loops": loops}
            return JSONResponse(body, status_code=503)
        return JSONResponse(
            {"status": "ok", "database": "ok", "rules_version": rules.current().version}
        )

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if bolt_app is not None:
        add_slack_endpoint(app, bolt_app)  # verifies each request before parsing it

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    install_openapi(app)
    return app


def _position(cursor: str | None, filters: listing.CursorScope) -> listing.Position | None:
    """Where a listing's page continues; a cursor made for another listing or other
    filters, or edited, is a 422 naming `cursor`."""
    if cursor is None:
        return None
    try:
        return listing.decode_cursor(cursor, filters)
    except listing.BadCursor as bad:
        raise ApiError(
            422,
            "invalid_request",
            "The request has invalid fields.",
            errors=[FieldError(field="cursor", message=str(bad))],
        ) from None


def _new_item(request: ReviewRequest, agent: str) -> NewItem:
    """The validated request as the plain data the submit command takes."""
    return NewItem(
        agent=agent,
        workflow=request.workflow,
        title=request.title,
        output=request.output,
        confidence=request.confidence,
        context=dict(request.context),
        links=[link.model_dump(mode="json") for link in request.links],
        external_id=request.external_id,
        callback_url=str(request.callback_url) if request.callback_url else None,
        metadata=request.metadata,
        output_schema=request.output_schema,
    )

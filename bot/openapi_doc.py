"""The published API description (`GET /openapi.json`, OpenAPI 3.1) and `/docs`.

What a client generator and Swagger's "Try it out" need: bearer auth on the /v1 routes,
the real error shape on every error answer, and the callback under `webhooks` with its
Standard Webhooks headers. `/docs` serves Swagger UI's files from the `fastapi-offline`
package, so it works without internet.
"""

from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from bot.api_models import ErrorOut, ReviewOut

DOCS_ASSETS_URL = "/docs/assets"

_ERROR_DESCRIPTIONS = {
    401: "No valid `Authorization: Bearer <token>` (error `unauthorized`).",
    404: "No such item for this agent (error `not_found`).",
    409: "`already_decided` (cancel of an item decided otherwise) or `external_id_conflict` "
    "(the external_id was used for a different body); `item` holds the existing item.",
    413: "The body is over `HITL_MAX_BODY_BYTES` (error `body_too_large`).",
    422: "Bad input, field by field in `errors` (error `invalid_request`), or no route "
    "matches (error `no_route`). Nothing was stored or posted.",
    500: "An unexpected error inside hitl (error `internal_error`).",
    503: "The database is unavailable (error `database_unavailable`); nothing was changed. "
    "Retry after `Retry-After` seconds.",
}
_ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    401: {"error": "unauthorized", "message": "The token is not valid."},
    404: {"error": "not_found", "message": "No item rv_01J… for agent invoice-bot."},
    409: {"error": "already_decided", "message": "The item is already approved."},
    413: {"error": "body_too_large", "message": "The request body is over 1048576 bytes."},
    422: {
        "error": "invalid_request",
        "message": "The request has invalid fields.",
        "errors": [{"field": "confidence", "message": "Input should be a valid number"}],
    },
    500: {"error": "internal_error", "message": "Something went wrong inside hitl."},
    503: {
        "error": "database_unavailable",
        "message": "The database is unavailable; nothing was changed. Try again shortly.",
    },
}


def new_app() -> FastAPI:
    return FastAPIOffline(
        title="hitl agent API",
        version="1",
        description="Submit AI agent outputs for human review in Slack and get the decision "
        "back by long-poll (`GET /v1/reviews/{id}?wait=30`) or by a signed callback (see "
        "`webhooks`). Every error has the shape `{error, message, errors?}`.",
        static_url=DOCS_ASSETS_URL,
        redoc_url=None,
        swagger_ui_parameters={"persistAuthorization": True},
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` entries for a route's error answers, always with 500."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        entry: dict[str, Any] = {
            "model": ErrorOut,
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"example": _ERROR_EXAMPLES[status]}},
        }
        if status == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer"},
                }
            }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}
            }
        responses[status] = entry
    return responses


def _declare_callback(app: FastAPI) -> None:
    @app.webhooks.post(
        "review-decided",
        operation_id="review_decided",
        summary="An item reached a final status",
        description="POSTed to the item's `callback_url` when it is decided (approved, "
        "edited, rejected, expired, auto-approved or cancelled). Signed per Standard "
        "Webhooks with `HITL_WEBHOOK_SECRET`: verify with the `standardwebhooks` package, "
        "`Webhook(secret).verify(body, headers)`. Answer 2xx to acknowledge; anything else "
        "is retried with exponential backoff and jitter for up to a day, with the same "
        "`webhook-id`; 410 Gone stops the retries. Redirects are not followed.",
    )
    def review_decided(
        item: ReviewOut,
        webhook_id: Annotated[
            str,
            Header(
                alias="webhook-id",
                description="The delivery's id, the same on every retry: deduplicate on it.",
                examples=["msg_01JD3V6Z7W9X8Y7Z6A5B4C3D2E"],
            ),
        ],
        webhook_timestamp: Annotated[
            str,
            Header(
                alias="webhook-timestamp",
                description="Unix time of this attempt, in seconds; part of the signature.",
                examples=["1763632931"],
            ),
        ],
        webhook_signature: Annotated[
            str | None,
            Header(
                alias="webhook-signature",
                description="`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`; absent "
                "when hitl runs without HITL_WEBHOOK_SECRET.",
                examples=["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="],
            ),
        ] = None,
    ) -> None:
        """Documentation only: hitl sends this; it does not receive it."""


# Documents by the routes they describe. Building one makes pydantic schemas for every
# model (about 0.2 s of CPU); every app this module builds with the same routes has the
# same document, so a process that builds several (the tests build one per test) builds it
# once. Only read after it is built.
_DOCUMENTS: dict[tuple[object, ...], dict[str, Any]] = {}


def _routes_of(app: FastAPI) -> tuple[object, ...]:
    def described(routes: list[Any]) -> tuple[object, ...]:
        return tuple(
            (
                getattr(route, "path", None),
                tuple(sorted(getattr(route, "methods", None) or ())),
                getattr(route, "name", None),
                getattr(route, "include_in_schema", None),
            )
            for route in routes
        )

    return (app.title, app.version, described(app.routes), described(app.webhooks.routes))


def install_openapi(app: FastAPI) -> None:
    _declare_callback(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            key = _routes_of(app)
            if key not in _DOCUMENTS:
                _DOCUMENTS[key] = _tidy(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        openapi_version=app.openapi_version,
                        description=app.description,
                        routes=app.routes,
                        webhooks=app.webhooks.routes,
                        separate_input_output_schemas=False,
                    )
                )
            app.openapi_schema = _DOCUMENTS[key]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _tidy(document: dict[str, Any]) -> dict[str, Any]:
    """Drops FastAPI's own validation-error schemas, which hitl never answers with."""
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path_item in document.get("webhooks", {}).values():
        for operation in path_item.values():  # what the agent's receiver answers
            operation["responses"] = {
                "200": {"description": "Received: any 2xx acknowledges the delivery."},
                "410": {"description": "Gone: hitl stops retrying this delivery."},
            }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {}).get("application/json", {})
                ref = content.get("schema", {}).get("$ref", "")
                if ref.endswith(("/HTTPValidationError", "/ValidationError")):
                    content["schema"] = {"$ref": "#/components/schemas/ErrorOut"}
    return document

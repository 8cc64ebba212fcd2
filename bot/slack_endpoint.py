"""`POST /slack/events`: Slack's requests in HTTP mode, verified before they are parsed.

The signature and its timestamp are checked on the raw bytes first (401 when they do not
hold); only then is the body read, and a signed body that cannot be read, or that does
not have the shape hitl expects, is a 400 with nothing decided (the shape itself is
checked by `handlers.payloads`, through bolt's error handler in `bot.slack_app`).
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier

from bot.slack_app import SlackApp

log = logging.getLogger(__name__)

PATH = "/slack/events"


def add_slack_endpoint(app: FastAPI, bolt_app: App) -> None:
    if not isinstance(bolt_app, SlackApp) or not bolt_app.signing_secret:
        raise ValueError("the Slack endpoint needs the app's signing secret")
    secret = bolt_app.signing_secret
    verifier = SignatureVerifier(secret)

    def is_signed(body: bytes, headers: Mapping[str, str]) -> bool:
        try:
            return verifier.is_valid_request(body, dict(headers))
        except UnicodeDecodeError:
            # slack_sdk reads the body as UTF-8 text; Slack signs bytes, so check those.
            return _bytes_signed(secret, body, headers)

    @app.post(PATH, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if not is_signed(body, request.headers):
            return PlainTextResponse(
                "Missing, invalid or expired Slack signature.", status_code=401
            )
        bolt_request = _read(request, body)
        if bolt_request is None:
            return PlainTextResponse(
                "The signed body is not a Slack payload. Nothing was changed.", status_code=400
            )
        # Bolt is synchronous: keep it off the event loop.
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)


def _bytes_signed(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature over raw bytes, for bodies that are not UTF-8 text."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 60 * 5:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _read(request: Request, body: bytes) -> BoltRequest | None:
    """bolt's request, or None when the body cannot be read as a JSON object or a form.

    Whatever bolt raises while reading a signed body is the body's fault, not hitl's."""
    try:
        bolt_request = to_bolt_request(request, body)
    except Exception as error:
        log.warning("refused an unreadable signed Slack body: %s", type(error).__name__)
        return None
    if not isinstance(bolt_request.body, dict):
        log.warning("refused a signed Slack body that is not an object")
        return None
    return bolt_request

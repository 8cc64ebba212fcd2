"""What the sync and async clients share: settings, request bodies, answers, backoff."""

from __future__ import annotations

import functools
import os
import random
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from hitl_client.errors import ApiError

# The server holds a long-poll for at most 60 s; ask for less so that proxies with a
# 60 s idle timeout never cut a poll.
MAX_POLL_SECONDS = 50.0
_POLL_GRACE_SECONDS = 15.0  # read timeout beyond the poll: the server answers at its end


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    timeout: float  # per request, except long-polls
    retries: int  # network errors and 5xx, per call
    backoff: float  # first pause; doubles, with jitter, up to max_backoff
    max_backoff: float


def settings_from(
    url: str | None,
    token: str | None,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    max_backoff: float,
) -> Settings:
    url = url or os.environ.get("HITL_URL")
    token = token or os.environ.get("HITL_TOKEN")
    if not url:
        raise ValueError("hitl's URL is missing: pass url= or set HITL_URL.")
    if not token:
        raise ValueError("The agent's token is missing: pass token= or set HITL_TOKEN.")
    return Settings(url.rstrip("/"), token, timeout, retries, backoff, max_backoff)


def headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.token}", "User-Agent": "hitl-client/0.1"}


def submission(
    *,
    workflow: str,
    title: str,
    output: str | Mapping[str, Any],
    confidence: float,
    context: Mapping[str, Any] | None,
    links: Sequence[Mapping[str, str]] | None,
    external_id: str | None,
    callback_url: str | None,
    metadata: Mapping[str, Any] | None,
    output_schema: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The body of `POST /v1/reviews`. Without an `external_id` one is made up, so that a
    retry of this very request (after a lost answer) finds the item instead of adding one."""
    body: dict[str, Any] = {
        "workflow": workflow,
        "title": title,
        "output": output if isinstance(output, str) else dict(output),
        "confidence": confidence,
        "external_id": external_id or f"hitl-client-{uuid.uuid4()}",
    }
    optional = {
        "context": dict(context) if context is not None else None,
        "links": [dict(link) for link in links] if links is not None else None,
        "callback_url": callback_url,
        "metadata": dict(metadata) if metadata is not None else None,
        "output_schema": dict(output_schema) if output_schema is not None else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def list_params(
    *,
    status: str | None,
    workflow: str | None,
    route: str | None,
    since: datetime | str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if isinstance(since, datetime):
        since = since.isoformat()
    optional = {"status": status, "workflow": workflow, "route": route, "since": since}
    optional["cursor"] = cursor
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def poll_timeout(settings: Settings, wait: float) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout, read=wait + _POLL_GRACE_SECONDS)


def is_retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


def pause(settings: Settings, attempt: int, response: httpx.Response | None) -> float:
    """Seconds before retry number `attempt` (0-based): the server's Retry-After when it
    gives one, else exponential backoff with full jitter."""
    if response is not None:
        retry_after = response.headers.get("retry-after", "")
        if retry_after.isdigit():
            return min(float(retry_after), settings.max_backoff)
    ceiling = min(settings.max_backoff, settings.backoff * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; ApiError with the server's error shape otherwise."""
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raise ApiError(
        response.status_code,
        str(body.get("error") or f"http_{response.status_code}"),
        str(body.get("message") or response.reason_phrase or response.text[:200]),
        errors=body.get("errors") if isinstance(body.get("errors"), list) else None,
        body=body,
    )


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every client of the process: building one loads the CA store
    (about 20 ms of CPU), and agents often make a client per call."""
    return ssl.create_default_context()

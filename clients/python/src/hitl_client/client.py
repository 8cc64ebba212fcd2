"""The blocking client: submit an item, wait for its decision, list and cancel items."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from hitl_client import _core
from hitl_client.errors import WaitTimeout
from hitl_client.models import Review, ReviewPage


class Client:
    """hitl's agent API. `url` and `token` default to `HITL_URL` and `HITL_TOKEN`.

    Network errors, 429 and 5xx answers are retried with backoff (`retries` times per
    call; while waiting, until the wait's timeout); 4xx answers raise `ApiError`."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = _core.settings_from(
            url, token, timeout=timeout, retries=retries, backoff=backoff, max_backoff=max_backoff
        )
        self._http = httpx.Client(
            base_url=self.settings.url,
            headers=_core.headers(self.settings),
            timeout=timeout,
            transport=transport,
            verify=_core.tls(),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(
        self,
        workflow: str,
        title: str,
        output: str | Mapping[str, Any],
        confidence: float,
        *,
        context: Mapping[str, Any] | None = None,
        links: Sequence[Mapping[str, str]] | None = None,
        external_id: str | None = None,
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> Review:
        """Sends an item for review and returns it (pending, or auto-approved)."""
        body = _core.submission(
            workflow=workflow,
            title=title,
            output=output,
            confidence=confidence,
            context=context,
            links=links,
            external_id=external_id,
            callback_url=callback_url,
            metadata=metadata,
            output_schema=output_schema,
        )
        return Review.model_validate(self._send("POST", "/v1/reviews", json=body))

    def get(self, review_id: str) -> Review:
        return Review.model_validate(self._send("GET", f"/v1/reviews/{review_id}"))

    def wait(self, review_id: str, timeout: float | None = None) -> Review:
        """Long-polls until the item is decided; `WaitTimeout` once `timeout` seconds
        pass with it still pending (None: wait as long as it takes)."""
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            poll = max(0.0, min(_core.MAX_POLL_SECONDS, deadline - time.monotonic()))
            body = self._send(
                "GET",
                f"/v1/reviews/{review_id}",
                params={"wait": round(poll, 3)},
                timeout=_core.poll_timeout(self.settings, poll),
                until=deadline,
            )
            review = Review.model_validate(body)
            if not review.pending:
                return review
            if time.monotonic() >= deadline:
                raise WaitTimeout(review)

    def review(
        self,
        workflow: str,
        title: str,
        output: str | Mapping[str, Any],
        confidence: float,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> Review:
        """`submit`, then `wait` for the decision (the other keywords go to `submit`)."""
        item = self.submit(workflow, title, output, confidence, **fields)
        return item if not item.pending else self.wait(item.id, timeout)

    def cancel(self, review_id: str, reason: str | None = None) -> Review:
        body = {"reason": reason} if reason is not None else {}
        return Review.model_validate(
            self._send("POST", f"/v1/reviews/{review_id}/cancel", json=body)
        )

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        route: str | None = None,
        since: datetime | str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ReviewPage:
        """One page of this agent's items, newest first."""
        params = _core.list_params(
            status=status, workflow=workflow, route=route, since=since, limit=limit, cursor=cursor
        )
        return ReviewPage.model_validate(self._send("GET", "/v1/reviews", params=params))

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: httpx.Timeout | None = None,
        until: float | None = None,
    ) -> dict[str, Any]:
        """One call, retried on network errors and 5xx: `retries` times, or while
        `until` (a monotonic deadline) leaves time for another try."""
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    params=params,
                    timeout=timeout if timeout is not None else self.settings.timeout,
                )
            except httpx.TransportError:
                if not self._may_retry(attempt, None, until):
                    raise
            if response is not None and not (
                _core.is_retryable(response) and self._may_retry(attempt, response, until)
            ):
                return _core.answer(response)
            time.sleep(_core.pause(self.settings, attempt, response))
            attempt += 1

    def _may_retry(
        self, attempt: int, response: httpx.Response | None, until: float | None
    ) -> bool:
        if until is None:
            return attempt < self.settings.retries
        return time.monotonic() + _core.pause(self.settings, attempt, response) < until

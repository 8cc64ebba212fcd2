"""Every way a call to hitl can end other than with the review it asked for."""

from __future__ import annotations

from typing import Any

from hitl_client.models import Review


class HitlError(Exception):
    """The base of the client's own errors."""


class ApiError(HitlError):
    """hitl refused the request (4xx), or kept failing (5xx) past the retries.

    `error` is the server's stable code (`invalid_request`, `not_found`, …), `errors` the
    field-by-field details of an `invalid_request`."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.errors = errors or []
        self.body = body or {}


class WaitTimeout(HitlError):
    """The item was still pending when the caller's timeout passed; `review` is its last
    state (wait again with its id: nothing is lost)."""

    def __init__(self, review: Review) -> None:
        super().__init__(f"review {review.id} is still pending")
        self.review = review


class NotApproved(HitlError):
    """A `require_review` call whose item was not approved; the function did not run."""

    def __init__(self, review: Review, message: str) -> None:
        super().__init__(message)
        self.review = review


class Rejected(NotApproved):
    """A reviewer rejected the call: `reason` (one of the route's) and their `note`."""

    def __init__(self, review: Review) -> None:
        decision = review.decision
        self.reason = decision.reason if decision else None
        self.note = decision.note if decision else None
        super().__init__(review, f"rejected ({self.reason}): {self.note or 'no note'}")


class Expired(NotApproved):
    """Nobody decided before the route's escalation chain ran out."""

    def __init__(self, review: Review) -> None:
        super().__init__(review, f"review {review.id} expired undecided")


class Cancelled(NotApproved):
    """The item was withdrawn through the API before anyone decided."""

    def __init__(self, review: Review) -> None:
        super().__init__(review, f"review {review.id} was cancelled")


class InvalidSignature(HitlError):
    """A callback whose Standard Webhooks signature does not check out: do not trust it."""

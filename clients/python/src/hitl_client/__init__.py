"""hitl for agents: ask a person, get their decision back.

`Client().review(workflow=..., title=..., output=..., confidence=...)` submits an item and
waits for the decision; see README.md for the decorator, the MCP server and LangGraph.
"""

from hitl_client.async_client import AsyncClient
from hitl_client.callbacks import verify_callback
from hitl_client.client import Client
from hitl_client.decorator import UnsupportedSignature, require_review
from hitl_client.errors import (
    ApiError,
    Cancelled,
    Expired,
    HitlError,
    InvalidSignature,
    NotApproved,
    Rejected,
    WaitTimeout,
)
from hitl_client.models import Change, Decision, Review, ReviewPage

__all__ = [
    "ApiError",
    "AsyncClient",
    "Cancelled",
    "Change",
    "Client",
    "Decision",
    "Expired",
    "HitlError",
    "InvalidSignature",
    "NotApproved",
    "Rejected",
    "Review",
    "ReviewPage",
    "UnsupportedSignature",
    "WaitTimeout",
    "require_review",
    "verify_callback",
]

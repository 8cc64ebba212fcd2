"""Callbacks: hitl POSTs the decided item to the agent, signed per Standard Webhooks."""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hitl_client.errors import InvalidSignature
from hitl_client.models import Review


def verify_callback(body: bytes | str, headers: Mapping[str, str], secret: str) -> Review:
    """The decided item a callback carries, once its signature (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`, made with hitl's `HITL_WEBHOOK_SECRET`) and
    its timestamp (within 5 minutes) check out; `InvalidSignature` otherwise.

    Pass the body exactly as received: the signature covers its bytes. Deduplicate on
    `webhook-id`: a retried delivery carries the same one."""
    try:
        payload = Webhook(secret).verify(body, dict(headers.items()))
    except WebhookVerificationError as error:
        raise InvalidSignature(str(error)) from None
    return Review.model_validate(payload)

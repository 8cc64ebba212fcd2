"""Agent callbacks: the final item, POSTed and signed per Standard Webhooks."""

from collections.abc import Callable
from datetime import datetime

import httpx
from standardwebhooks import Webhook

from bot.api_models import ReviewOut
from bot.delivery import GiveUp, Retry
from storage import reviews
from storage.db import Database
from storage.models import CallbackStatus, OutboxMessage


class CallbackSender:
    def __init__(
        self, *, db: Database, webhook_secret: str | None, now: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.webhook = Webhook(webhook_secret) if webhook_secret else None
        self.now = now
        # No redirects: a callback goes where the agent said, nowhere else.
        self.http = httpx.Client(timeout=10.0, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def send(self, row: OutboxMessage) -> None:
        """One attempt; the `webhook-id` is the outbox row's, the same on every retry."""
        item = reviews.get_item(self.db, row.item_id) if row.item_id else None
        if item is None or not item.callback_url:
            raise GiveUp("item or callback_url not found")
        body = ReviewOut.of(item, reviews.get_decision(self.db, item.id)).model_dump_json()
        now = self.now()
        headers = {
            "content-type": "application/json",
            "user-agent": "hitl-webhooks/1",
            "webhook-id": row.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self.webhook is not None:
            headers["webhook-signature"] = self.webhook.sign(row.delivery_id, now, body)
        try:
            response = self.http.post(item.callback_url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise Retry(f"{type(error).__name__}: {error}") from None
        if response.status_code == 410:
            raise GiveUp("the receiver answered 410 Gone")
        if not response.is_success:
            raise Retry(f"the receiver answered HTTP {response.status_code}")
        reviews.set_callback_status(
            self.db,
            item.id,
            CallbackStatus.DELIVERED,
            now=self.now(),
            delivery_id=row.delivery_id,
            attempts=row.attempts,
        )

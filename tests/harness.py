"""A running bot wired to the Slack stand-in, and the moves a test makes against it."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import exists, or_, update
from sqlmodel import Session, col, select

from bot.server import Runtime
from bot.settings import Settings
from storage import outbox
from storage.models import ItemMessage, OutboxKind, OutboxMessage, OutboxStatus, ReviewItem
from tests.api_contract import ContractCheck
from tests.plain_http import TLS
from tests.slack_payloads import block_actions, post_interaction, view_submission
from tests.slack_standin import SlackStandIn

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AGENT_TOKEN = "tok-invoice-bot-0123456789abcdef"
OTHER_AGENT_TOKEN = "tok-other-bot-0123456789abcdef0"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

RULES = """\
timezone: Europe/Berlin
routes:
  - name: invoices
    match: {workflow: ap-invoices}
    owner:
      channel: C0APREVIEW
      users: [U0ALICE, U0BOB]
    reject_reasons: [wrong_amount, wrong_vendor, duplicate, other]
  - name: auto
    match: {workflow: "auto-*"}
    auto_approve_at: 0.9
    owner: {channel: C0AUTO}
  - name: pairs
    match: {workflow: payments}
    owner:
      channel: C0PAYMENTS
      users: [U0ALICE, U0BOB, U0CAROL]
    approvals_required: 2
  - name: sampled
    match: {workflow: "sampled-*"}
    auto_approve_at: 0.5
    audit_sample: 1.0
    owner: {channel: C0SAMPLE}
  - name: open
    match: {workflow: "open-*"}
    owner: {channel: C0OPEN}
"""


def make_settings(
    database_url: str, standin: SlackStandIn, rules_path: Path, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": standin.bot_token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": standin.url,
        "database_url": database_url,
        "rules_path": rules_path,
        "host": "127.0.0.1",
        "port": 0,
        "api_tokens": f"invoice-bot:{AGENT_TOKEN},other-bot:{OTHER_AGENT_TOKEN}",
        "webhook_secret": WEBHOOK_SECRET,
        "retry_base_seconds": 0.2,
        "retry_max_seconds": 1.0,
        "outbox_poll_seconds": 0.2,
        # The tests' callback receiver listens on 127.0.0.1; the default refuses loopback.
        "callback_allow_private": True,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


def invoice(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow": "ap-invoices",
        "title": "Invoice 4471 from ACME, 12,400 EUR",
        "output": "Booked to account 6300, cost centre 41, due 2026-12-01.",
        "confidence": 0.62,
        "context": {"vendor": "ACME GmbH", "amount": "12,400 EUR"},
        "links": [{"text": "PDF", "url": "https://files.example.com/4471.pdf"}],
    }
    body.update(overrides)
    return body


class BotHarness:
    def __init__(self, settings: Settings, standin: SlackStandIn) -> None:
        self.settings = settings
        self.standin = standin
        self.runtime = Runtime(settings)

    def start(self) -> "BotHarness":
        self.runtime.start()
        self.url = f"http://127.0.0.1:{self.runtime.port}"
        self.http = httpx.Client(verify=TLS, base_url=self.url, timeout=30)
        self.check_contract = ContractCheck(self.http)  # every /v1 answer vs /openapi.json
        return self

    def stop(self) -> None:
        self.http.close()
        self.runtime.stop()

    # Agent API -----------------------------------------------------------------------

    def api(
        self, method: str, path: str, token: str | None = AGENT_TOKEN, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        self.check_contract(response)
        return response

    def submit(self, token: str = AGENT_TOKEN, **overrides: Any) -> dict[str, Any]:
        response = self.api("POST", "/v1/reviews", token=token, json=invoice(**overrides))
        assert response.status_code in (200, 201), response.text
        return response.json()

    def item(
        self, item_id: str, token: str = AGENT_TOKEN, wait: float | None = None
    ) -> dict[str, Any]:
        params = {"wait": wait} if wait is not None else None
        response = self.api("GET", f"/v1/reviews/{item_id}", token=token, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    # Slack ---------------------------------------------------------------------------

    def posts_of(self, item_id: str) -> list[Any]:
        return [
            call
            for call in self.standin.calls_to("chat.postMessage")
            if _item_of(call.args) == item_id
        ]

    def wait_posted(self, item_id: str, timeout: float = 30) -> tuple[str, str]:
        """The item's message, once Slack has it and hitl has recorded it."""
        channel, ts = self._posted(item_id, timeout)
        self.wait_recorded(channel, ts, timeout)
        return channel, ts

    def _posted(self, item_id: str, timeout: float = 30) -> tuple[str, str]:
        self.standin.wait_for(lambda s: bool(self.posts_of(item_id)), timeout=timeout)
        post = self.posts_of(item_id)[0]
        return post.args["channel"], self._ts_of(post.args["channel"], item_id)

    def wait_recorded(self, channel: str, ts: str, timeout: float = 30) -> None:
        """Waits until hitl has recorded a message Slack took: hitl learns its ts from
        Slack's answer, a moment after the message appears, and a reply in its thread
        before then would not find the item."""
        known = or_(
            exists().where(col(ReviewItem.channel) == channel, col(ReviewItem.message_ts) == ts),
            exists().where(col(ItemMessage.channel) == channel, col(ItemMessage.ts) == ts),
        )
        deadline = time.monotonic() + timeout
        while True:
            with self.runtime.db.read() as session:
                if session.exec(select(known)).one():
                    return
            if time.monotonic() >= deadline:
                raise AssertionError(f"hitl never recorded message {ts} in {channel}")
            time.sleep(0.05)

    def _ts_of(self, channel: str, item_id: str) -> str:
        for (message_channel, ts), message in self.standin.messages.items():
            if message_channel == channel and _item_of(message) == item_id:
                return ts
        raise AssertionError(f"no stored message for {item_id}")

    def wait_delivered(self, item_id: str, timeout: float = 30) -> None:
        """Waits until everything queued for the item (Slack calls, callbacks) has been
        delivered or given up: from then on nothing more reaches Slack for it unless
        something changes the item. What a test awaits instead of sleeping "long enough"
        before it asserts that something happened only once."""

        deadline = time.monotonic() + timeout
        # A database query a try: every 50 ms rather than the stand-in's 20, which would
        # spend the CPU that the bot under test needs to settle.
        while any(
            row.status == OutboxStatus.PENDING
            for row in outbox.rows_for_item(self.runtime.db, item_id)
        ):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{item_id}: outbox rows still pending after {timeout}s; calls so far:\n"
                    f"{self.standin.summary()}"
                )
            time.sleep(0.05)

    def escalation_posts(self, item_id: str) -> list[Any]:
        return [
            call
            for call in self.standin.calls_to("chat.postMessage")
            if _item_of(call.args, "hitl_escalation") == item_id
        ]

    def escalation_messages(self, item_id: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        return [
            (key, message)
            for key, message in self.standin.messages.items()
            if _item_of(message, "hitl_escalation") == item_id
        ]

    def message(self, item_id: str) -> dict[str, Any]:
        channel, ts = self._posted(item_id)  # the stand-in's copy: no database needed
        return self.standin.messages[(channel, ts)]

    def click(
        self,
        item_id: str,
        action: str,
        user: str,
        *,
        signing_secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        on: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Clicks a button on the item's original message, or on the message `on`."""
        payload = self.click_payload(item_id, action, user, on=on)
        return post_interaction(
            f"{self.url}/slack/events", payload, signing_secret, timestamp=timestamp
        )

    def click_payload(
        self, item_id: str, action: str, user: str, *, on: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """The block_actions payload Slack sends when `user` clicks `action` on the item."""
        channel, ts = on or self._posted(item_id)
        return block_actions(
            user_id=user,
            action_id=action,
            value=item_id,
            channel=channel,
            message_ts=ts,
            trigger_id=self.standin.new_trigger_id(),
            response_url=self.standin.response_url(),
            message=self.standin.messages[(channel, ts)],
        )

    def submit_view(
        self, callback_id: str, item_id: str, user: str, values: dict[str, Any]
    ) -> httpx.Response:
        payload = view_submission(
            user_id=user, callback_id=callback_id, private_metadata=item_id, state_values=values
        )
        return post_interaction(f"{self.url}/slack/events", payload, SIGNING_SECRET)

    def ephemerals_to(self, user: str) -> list[str]:
        """Texts sent back to one user through response URLs (ephemeral replies)."""
        return [
            call.args.get("text", "")
            for call in self.standin.calls_to("response_url")
            if call.args.get("response_type") == "ephemeral"
        ]


def answer_lost(session: Session, kind: OutboxKind) -> None:
    """Puts the delivered outbox rows of `kind` back as after an attempt cut short: Slack
    took the message, but its answer never came back (a timeout, a crash)."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.kind) == kind)
        .values(
            status=OutboxStatus.PENDING,
            done_at=None,
            attempts=1,
            due_at=datetime.now(UTC),
            last_error="ReadTimeout: the read operation timed out",
        )
    )


def _item_of(message: dict[str, Any], event_type: str = "hitl_review") -> str | None:
    """The item a message shows, from the metadata hitl attaches to each message."""
    metadata = metadata_of(message)
    if metadata.get("event_type") != event_type:
        return None
    return (metadata.get("event_payload") or {}).get("item_id")


def metadata_of(message: dict[str, Any]) -> dict[str, Any]:
    metadata = message.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return metadata if isinstance(metadata, dict) else {}


def actions_of(message: dict[str, Any]) -> list[str]:
    """The action ids of the buttons a message shows."""
    return [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def edit_values(text: str) -> dict[str, Any]:
    """The state of the edit modal as submitted with `text`."""
    return {"output_0": {"text": {"type": "plain_text_input", "value": text}}}


def reject_values(reason: str, note: str | None = None) -> dict[str, Any]:
    """The state of the reject modal as submitted with a reason and an optional note."""
    selected = {"value": reason, "text": {"type": "plain_text", "text": reason}}
    values: dict[str, Any] = {
        "reason": {"choice": {"type": "static_select", "selected_option": selected}}
    }
    if note is not None:
        values["note"] = {"text": {"type": "plain_text_input", "value": note}}
    return values

"""hitl's listeners tested in-process, the way bolt-python tests its own apps.

`InProcessBot` builds everything as `hitl serve` does (`bot.server.Runtime`: the bolt app
from `create_bolt_app`, its `HandlerDeps`, the outbox worker, the HTTP app) on a real
database, but serves nothing: a click or a modal submission is handed to bolt's own
`App.dispatch` as a signed, Slack-shaped `BoltRequest`, and the agent API is called
through its ASGI app (Starlette's TestClient). Slack itself is still the stand-in over
real HTTP: the outbox worker posts and updates messages there, and the listeners' replies
(ephemeral texts, `views.open`) reach it as they do in production.

What this leaves out is the served path (uvicorn, the `/slack/events` route over a socket,
Socket Mode, the process); a few tests keep that end to end (tests/test_review_loop.py,
tests/test_click_ack.py, tests/test_process.py).
"""

from collections.abc import Sequence
from typing import Any, cast

import httpx
from slack_bolt import BoltRequest
from starlette.testclient import TestClient

from tests.api_contract import ContractCheck
from tests.harness import SIGNING_SECRET, BotHarness
from tests.slack_payloads import form_body, sign, view_submission

EVENTS_PATH = "/slack/events"


class InProcessBot(BotHarness):
    """A `BotHarness` whose Slack requests go through `App.dispatch` in this process.

    Everything a test reads (`submit`, `item`, `message`, `ephemerals_to`, …) is the
    harness's own; only how requests reach hitl differs. Only the outbox worker runs in
    the background, since it is what puts messages into the stand-in."""

    def start(self) -> "InProcessBot":
        self.runtime.worker.start()
        self.url = "http://hitl.in-process"
        # Entered once: one event loop serves every request of the test. TestClient is
        # built on httpx, or on httpx2 where that is installed: the same API either way.
        self._client = TestClient(self.runtime.http, base_url=self.url)
        self.http = cast(httpx.Client, self._client.__enter__())
        self.check_contract = ContractCheck(self.http)  # every /v1 answer vs /openapi.json
        return self

    def stop(self) -> None:
        self._client.__exit__(None, None, None)
        self.runtime.worker.stop()
        self.runtime.db.dispose()

    # Slack, in-process ---------------------------------------------------------------

    def dispatch(
        self,
        payload: dict[str, Any],
        *,
        signing_secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Hands an interaction payload to the bolt app as Slack's signed POST would
        arrive, and returns bolt's answer as the HTTP response Slack would see. Like over
        HTTP, it returns once the listener acknowledged; what the listener does after
        its acknowledgement (a reply, a modal) follows on bolt's threads."""
        body = form_body(payload).decode()
        signature = sign(body.encode(), signing_secret, timestamp)
        headers: dict[str, str | Sequence[str]] = {
            name.lower(): value for name, value in signature.items()
        }
        headers["content-type"] = "application/x-www-form-urlencoded"
        answer = self.runtime.bolt.dispatch(BoltRequest(body=body, headers=headers))
        answer_headers = {name: values[0] for name, values in answer.headers.items() if values}
        content = answer.body if isinstance(answer.body, str) else str(answer.body)
        return httpx.Response(answer.status, content=content.encode(), headers=answer_headers)

    def post_events(
        self,
        body: bytes,
        signing_secret: str | None = SIGNING_SECRET,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> httpx.Response:
        """Any bytes to the `/slack/events` route of the HTTP app (signed unless the
        secret is None), for what that route checks before bolt sees anything."""
        headers = {"Content-Type": content_type}
        if signing_secret is not None:
            headers.update(sign(body, signing_secret))
        return self.http.post(EVENTS_PATH, content=body, headers=headers)

    def post_interaction(
        self, payload: dict[str, Any], signing_secret: str = SIGNING_SECRET
    ) -> httpx.Response:
        """An interaction payload as Slack posts it, through the `/slack/events` route
        (signature, then reading the body, then bolt): for payloads of hostile shapes, some
        of which bolt cannot even read into a request."""
        return self.post_events(form_body(payload), signing_secret)

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
        return self.dispatch(payload, signing_secret=signing_secret, timestamp=timestamp)

    def submit_view(
        self, callback_id: str, item_id: str, user: str, values: dict[str, Any]
    ) -> httpx.Response:
        payload = view_submission(
            user_id=user, callback_id=callback_id, private_metadata=item_id, state_values=values
        )
        return self.dispatch(payload)

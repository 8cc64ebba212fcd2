"""Agent callbacks: the final item, POSTed and signed per Standard Webhooks.

Each attempt resolves the callback's host, checks every address against the egress
policy (the name may point elsewhere than at submission) and connects to the address it
checked. An attempt has one total time limit, so a receiver that hangs or trickles bytes
costs at most that long; redirects are not followed and the answer's body is not read.
"""

import asyncio
import functools
import logging
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
from standardwebhooks import Webhook

from bot.api_models import ReviewOut
from bot.delivery import GiveUp, Retry
from bot.egress import EgressPolicy, EgressRefused, Unresolvable, host_and_port
from storage import delivered, queue, reviews
from storage.db import Database
from storage.models import CallbackStatus, OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0


class CallbackSender:
    def __init__(
        self,
        *,
        db: Database,
        webhook_secret: str | None,
        now: Callable[[], datetime],
        egress: EgressPolicy | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.db = db
        self.webhook = Webhook(webhook_secret) if webhook_secret else None
        self.now = now
        self.egress = egress or EgressPolicy()
        self.timeout_seconds = timeout_seconds
        self._tls = _default_tls()
        # Attempts under way, so that shutting down can end them at once.
        self._attempts: dict[asyncio.Task[int], asyncio.AbstractEventLoop] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Name lookups run here, not in the attempt loop's own executor, which asyncio.run
        # would wait for: a resolver that hangs must not outlast the attempt.
        self._resolving = ThreadPoolExecutor(4, thread_name_prefix="callback-dns")

    @property
    def attempts_under_way(self) -> int:
        with self._lock:
            return len(self._attempts)

    def close(self) -> None:
        """Ends the attempts under way (they are retried later) and refuses new ones."""
        with self._lock:
            self._closed = True
            for task, loop in self._attempts.items():
                loop.call_soon_threadsafe(task.cancel)
        self._resolving.shutdown(wait=False, cancel_futures=True)

    def send(self, row: OutboxMessage) -> None:
        """One attempt; the `webhook-id` is the outbox row's, the same on every retry."""
        item = reviews.get_item(self.db, row.item_id) if row.item_id else None
        if item is None or not item.callback_url:
            raise GiveUp("item or callback_url not found")
        decision = reviews.get_decision(self.db, item.id)
        approvers = reviews.decision_approvers(self.db, item)
        comments = queue.comments_of(self.db, item.id)
        body = ReviewOut.of(item, decision, approvers, comments=comments).model_dump_json()
        now = self.now()
        headers = {
            "content-type": "application/json",
            "user-agent": "hitl-webhooks/1",
            "webhook-id": row.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self.webhook is not None:
            headers["webhook-signature"] = self.webhook.sign(row.delivery_id, now, body)
        status = self._post(item.callback_url, body.encode(), headers)
        if status == 410:
            raise GiveUp("the receiver answered 410 Gone")
        if not 200 <= status < 300:
            raise Retry(f"the receiver answered HTTP {status}")
        delivered.set_callback_status(
            self.db,
            item.id,
            CallbackStatus.DELIVERED,
            now=self.now(),
            delivery_id=row.delivery_id,
            attempts=row.attempts,
        )
        log.info("callback delivered for item %s", item.id, extra={"item_id": item.id})

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POSTs to an address of the URL's host that the policy allows; the status code."""
        try:
            return asyncio.run(self._attempt(url, body, headers))
        except EgressRefused as refused:
            raise GiveUp(f"callback_url refused: {refused}") from None
        except Unresolvable as error:
            raise Retry(str(error)) from None
        except asyncio.CancelledError:
            raise Retry("hitl is shutting down; the callback will be sent again") from None
        except TimeoutError:
            raise Retry(f"no answer within {self.timeout_seconds:g} s") from None
        except httpx.HTTPError as error:
            raise Retry(f"{type(error).__name__}: {error}") from None

    async def _attempt(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            if self._closed:
                raise asyncio.CancelledError
            self._attempts[task] = asyncio.get_running_loop()
        try:
            return await self._post_within_limit(url, body, headers)
        finally:
            with self._lock:
                self._attempts.pop(task, None)

    async def _post_within_limit(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        host, port = host_and_port(url)
        # trust_env=False: a proxy from the environment would connect to the name itself,
        # bypassing the address that was checked.
        async with (
            asyncio.timeout(self.timeout_seconds),  # a slow resolver counts too
            httpx.AsyncClient(
                timeout=self.timeout_seconds,
                follow_redirects=False,
                trust_env=False,
                verify=self._tls,
            ) as client,
        ):
            addresses = await asyncio.get_running_loop().run_in_executor(
                self._resolving, self.egress.addresses, host, port
            )
            target = httpx.URL(url)
            last_error: httpx.HTTPError | None = None
            for address in addresses:
                pinned = target.copy_with(host=str(address))
                request = client.build_request(
                    "POST",
                    pinned,
                    content=body,
                    headers={**headers, "host": target.netloc.decode("ascii")},
                    extensions={"sni_hostname": host} if target.scheme == "https" else {},
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as error:  # try the host's next address
                    last_error = error
                    continue
                await response.aclose()  # the body is not needed, and could be endless
                return response.status_code
            assert last_error is not None
            raise last_error


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """One context for the process: building one loads the CA store (about 20 ms of CPU),
    and a context is safe to share between threads."""
    return ssl.create_default_context()

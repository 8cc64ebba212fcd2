"""hitl as the inbox of a LangGraph agent (extra `hitl-client[langgraph]`).

A graph that pauses with `interrupt([...])` on Agent Inbox `HumanInterrupt` requests
(`action_request` {action, args}, `config` {allow_accept, allow_edit, allow_respond,
allow_ignore}, `description`) gets each request reviewed in Slack and resumes with the
matching `HumanResponse` values:

    result = graph.invoke(inputs, config)
    while "__interrupt__" in result:
        result = graph.invoke(inbox.resume(result), config)

A decision becomes: approved → `accept`; edited → `edit` with the edited args; rejected →
`response` with the reviewer's note (or `ignore` where responding is not allowed);
expired or cancelled → `ignore`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from hitl_client.async_client import AsyncClient
from hitl_client.client import Client
from hitl_client.models import Review


class ActionRequest(TypedDict):
    action: str
    args: dict[str, Any]


class HumanInterruptConfig(TypedDict, total=False):
    allow_ignore: bool
    allow_respond: bool
    allow_edit: bool
    allow_accept: bool


class HumanInterrupt(TypedDict, total=False):
    action_request: ActionRequest
    config: HumanInterruptConfig
    description: str | None


class HumanResponse(TypedDict):
    type: Literal["accept", "ignore", "response", "edit"]
    args: str | ActionRequest | None


class HitlInbox:
    """Reviews a paused run's interrupts through hitl. `confidence` is what the route sees
    (a route with `auto_approve_at` may approve without asking); `timeout` bounds each
    wait (None: as long as it takes; past it `WaitTimeout` is raised)."""

    def __init__(
        self,
        client: Client | AsyncClient,
        *,
        workflow: str,
        confidence: float = 0.5,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.workflow = workflow
        self.confidence = confidence
        self.timeout = timeout

    def respond(
        self, requests: Sequence[HumanInterrupt] | HumanInterrupt, *, key: str | None = None
    ) -> list[HumanResponse]:
        """The responses to a list of requests (all submitted first, then waited on).
        `key`, an id of this interrupt, makes repeating the call find the same items."""
        assert isinstance(self.client, Client), "use arespond with an AsyncClient"
        asked = _as_list(requests)
        reviews = [self.client.submit(**self._submission(r, key, n)) for n, r in enumerate(asked)]
        decided = [
            review if not review.pending else self.client.wait(review.id, self.timeout)
            for review in reviews
        ]
        return [_response(request, review) for request, review in zip(asked, decided, strict=True)]

    async def arespond(
        self, requests: Sequence[HumanInterrupt] | HumanInterrupt, *, key: str | None = None
    ) -> list[HumanResponse]:
        assert isinstance(self.client, AsyncClient), "use respond with a Client"
        asked = _as_list(requests)
        answers = []
        for n, request in enumerate(asked):
            review = await self.client.submit(**self._submission(request, key, n))
            answers.append(review)
        decided = [
            review if not review.pending else await self.client.wait(review.id, self.timeout)
            for review in answers
        ]
        return [_response(request, review) for request, review in zip(asked, decided, strict=True)]

    def resume(self, result: Mapping[str, Any]) -> Any:
        """`Command(resume=...)` for a run that `invoke` returned paused (its
        `__interrupt__`): one interrupt resumes with its responses, several by id."""
        from langgraph.types import Command

        interrupts = list(result.get("__interrupt__") or [])
        if not interrupts:
            raise ValueError("the run is not paused: its result has no __interrupt__")
        answers = {
            interrupt.id: self.respond(interrupt.value, key=interrupt.id)
            for interrupt in interrupts
        }
        if len(interrupts) == 1:
            return Command(resume=next(iter(answers.values())))
        return Command(resume=answers)

    def _submission(self, request: HumanInterrupt, key: str | None, index: int) -> dict[str, Any]:
        action = request["action_request"]
        args = dict(action.get("args") or {})
        description = (request.get("description") or "").strip()
        headline = description.splitlines()[0] if description else ""
        title = f"{action['action']}: {headline}" if headline else action["action"]
        external_id = f"langgraph-{key}-{index}" if key else f"langgraph-{uuid.uuid4()}"
        return {
            "workflow": self.workflow,
            "title": title[:200],
            "output": args if _is_flat(args) else json.dumps(args, indent=2, ensure_ascii=False),
            "confidence": self.confidence,
            "context": {"action": action["action"], "description": description[:2000] or None},
            "external_id": external_id[:200],
        }


def _as_list(requests: Sequence[HumanInterrupt] | HumanInterrupt) -> list[HumanInterrupt]:
    if isinstance(requests, Mapping):
        return [requests]
    return list(requests)


def _is_flat(args: Mapping[str, Any]) -> bool:
    """A form in Slack: fields of text, numbers and booleans; anything else is JSON text."""
    scalar = (str, int, float, bool)
    return bool(args) and all(isinstance(value, scalar) for value in args.values())


def _response(request: HumanInterrupt, review: Review) -> HumanResponse:
    config = request.get("config") or {}
    action = request["action_request"]
    if review.status == "edited":
        final = review.final_output
        if isinstance(final, str):
            try:
                final = json.loads(final)
            except ValueError:
                return {"type": "response", "args": final}
        if isinstance(final, dict):
            return {"type": "edit", "args": {"action": action["action"], "args": final}}
    if review.approved:
        return {"type": "accept", "args": None}
    if review.status == "rejected" and config.get("allow_respond", True):
        decision = review.decision
        note = (decision.note or f"Rejected: {decision.reason}") if decision else "Rejected."
        return {"type": "response", "args": note}
    return {"type": "ignore", "args": None}

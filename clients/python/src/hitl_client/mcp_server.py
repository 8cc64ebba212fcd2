"""`hitl-mcp`: any MCP-capable agent asks a person through hitl.

Three tools: `request_review`, `get_review`, `cancel_review`. MCP clients give up on tool
calls that run long, so each call waits at most 55 s for the decision and otherwise
answers "still pending" with the id to ask again with: the item keeps waiting in hitl,
nothing is lost between calls. Configured by `HITL_URL` and `HITL_TOKEN`; stdio by default,
streamable HTTP with `--http PORT`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from typing import Annotated, Any

from pydantic import BaseModel, Field

from hitl_client.async_client import AsyncClient
from hitl_client.errors import ApiError, WaitTimeout
from hitl_client.models import Review

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as missing:  # pragma: no cover - depends on the extra
    raise ImportError("hitl-mcp needs the MCP SDK: pip install 'hitl-client[mcp]'") from missing

MAX_WAIT_SECONDS = 55.0


class Link(BaseModel):
    text: str = Field(description="The label shown.")
    url: str = Field(description="An http or https URL.")


Scalar = str | int | float | bool | None

INSTRUCTIONS = """\
hitl asks a person (in Slack) to approve, edit or reject something before you act on it.
Call request_review with what you intend to do; act only once the answer says approved,
and then on final_output (the person may have edited it). If the answer says pending,
call get_review with its id until it is decided; do not submit it again."""

_NEXT_STEP = {
    "pending": "Still pending: nobody has decided yet. Call get_review with id {id!r} to "
    "keep waiting (the review stays open in hitl; do not submit it again).",
    "approved": "Approved: go ahead with final_output.",
    "edited": "Approved with changes: go ahead with final_output, not what you sent "
    "(changes lists each edited field).",
    "auto_approved": "Approved automatically by the route's confidence rule: go ahead with "
    "final_output.",
    "rejected": "Rejected: do not do it. decision.reason and decision.note say why; tell "
    "the user, or revise and submit a new review with another external_id.",
    "expired": "Expired: nobody decided in time. Do not do it; tell the user.",
    "cancelled": "Cancelled through the API: do not do it.",
}


def review_answer(review: Review) -> dict[str, Any]:
    """What a tool returns: the decision, and in `next_step` what the agent should do."""
    decision = review.decision
    return {
        "id": review.id,
        "status": review.status,
        "approved": review.approved,
        "final_output": review.final_output,
        "decision": decision.model_dump(mode="json", by_alias=True) if decision else None,
        "changes": [change.model_dump(mode="json", by_alias=True) for change in review.changes],
        "next_step": _NEXT_STEP[review.status].format(id=review.id),
    }


def build_server(client: AsyncClient | None = None) -> MCPServer:
    """The MCP server; `client` defaults to one made from HITL_URL and HITL_TOKEN on the
    first tool call (so that listing tools works without them)."""
    server = MCPServer(name="hitl", instructions=INSTRUCTIONS)
    clients: list[AsyncClient] = [client] if client is not None else []

    def hitl() -> AsyncClient:
        if not clients:
            try:
                clients.append(AsyncClient())
            except ValueError as error:
                raise ToolError(str(error)) from None
        return clients[0]

    async def decided_or_pending(review: Review, wait_seconds: float) -> dict[str, Any]:
        if review.pending and wait_seconds > 0:
            try:
                review = await hitl().wait(review.id, timeout=wait_seconds)
            except WaitTimeout as still:
                review = still.review
        return review_answer(review)

    @server.tool(
        description="Ask a person to review something before you act on it: a text, or a "
        "tool call's arguments as a flat JSON object (with an optional JSON Schema, so the "
        "reviewer gets a form). Waits up to wait_seconds for the decision. Returns the "
        "review: act only when approved, on final_output; when status is pending, call "
        "get_review with its id."
    )
    async def request_review(
        workflow: Annotated[
            str, Field(description="What kind of work this is; hitl's rules route by it.")
        ],
        title: Annotated[str, Field(description="One line the reviewer sees first.")],
        output: Annotated[
            str | dict[str, Scalar],
            Field(description="What you intend to do: a text, or a flat object of fields."),
        ],
        confidence: Annotated[float, Field(ge=0, le=1, description="How sure you are, 0 to 1.")],
        context: Annotated[
            dict[str, Scalar] | None,
            Field(description="Facts the reviewer needs, shown beside the output."),
        ] = None,
        output_schema: Annotated[
            dict[str, Any] | None,
            Field(description="JSON Schema of a structured output (a flat object)."),
        ] = None,
        links: Annotated[
            list[Link] | None, Field(description="Links shown under the item (PDF, ticket…).")
        ] = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="Anything to keep with the item (model, prompt version…)."),
        ] = None,
        external_id: Annotated[
            str | None,
            Field(
                description="Your id for this request. Sending the same one again returns "
                "the same review; by default it is derived from the request's content."
            ),
        ] = None,
        wait_seconds: Annotated[
            float,
            Field(ge=0, le=MAX_WAIT_SECONDS, description="How long to wait for a decision."),
        ] = 50,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "workflow": workflow,
            "title": title,
            "output": output,
            "confidence": confidence,
            "context": context,
            "output_schema": output_schema,
            "links": [link.model_dump() for link in links] if links is not None else None,
            "metadata": metadata,
        }
        # A retried tool call (the MCP client timed out) finds its review again.
        external_id = (
            external_id
            or "mcp-" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:40]
        )
        try:
            review = await hitl().submit(**fields, external_id=external_id)
            return await decided_or_pending(review, wait_seconds)
        except ApiError as error:
            raise ToolError(_explain(error)) from None

    @server.tool(
        description="The current state of a review, waiting up to wait_seconds for its "
        "decision. Call it again while the status is pending."
    )
    async def get_review(
        id: Annotated[str, Field(description="The review's id, from request_review.")],
        wait_seconds: Annotated[
            float,
            Field(ge=0, le=MAX_WAIT_SECONDS, description="How long to wait for a decision."),
        ] = 50,
    ) -> dict[str, Any]:
        try:
            return await decided_or_pending(await hitl().get(id), wait_seconds)
        except ApiError as error:
            raise ToolError(_explain(error)) from None

    @server.tool(
        description="Withdraw a review nobody has decided yet (you no longer need it). "
        "A decided review cannot be cancelled; the answer then shows its decision."
    )
    async def cancel_review(
        id: Annotated[str, Field(description="The review's id.")],
        reason: Annotated[
            str | None, Field(description="Why, shown to the reviewers.", max_length=500)
        ] = None,
    ) -> dict[str, Any]:
        try:
            return review_answer(await hitl().cancel(id, reason))
        except ApiError as error:
            if error.error == "already_decided" and isinstance(error.body.get("item"), dict):
                return review_answer(Review.model_validate(error.body["item"]))
            raise ToolError(_explain(error)) from None

    return server


def _explain(error: ApiError) -> str:
    details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in error.errors)
    return f"hitl refused the request ({error.status} {error.error}): {error.message}" + (
        f" {details}" if details else ""
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="hitl-mcp", description="hitl's MCP server (HITL_URL and HITL_TOKEN configure it)."
    )
    parser.add_argument(
        "--http", type=int, metavar="PORT", help="serve streamable HTTP on this port (at /mcp)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="with --http: the address to bind")
    options = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    server = build_server()
    if options.http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=options.host, port=options.http)


if __name__ == "__main__":  # pragma: no cover
    main()

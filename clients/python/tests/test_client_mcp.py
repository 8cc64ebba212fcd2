"""`hitl-mcp` through the MCP SDK's own client: over stdio (the `hitl-mcp` command as an
MCP client such as Claude Code starts it) and over streamable HTTP (`--http PORT`)."""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from reviewer import Reviewer, approve
from tests.harness import AGENT_TOKEN, BotHarness
from tests.plain_http import TLS
from tests.processes import free_port

# mcp is imported where a test talks to the server, not at collection: every test worker
# collects this module, and importing mcp costs each of them half a second.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the [mcp] extra is not installed"
)
if TYPE_CHECKING:
    from mcp.client.client import Client as McpClient

HITL_MCP = shutil.which("hitl-mcp", path=str(Path(sys.executable).parent)) or "hitl-mcp"
ASK = {
    "workflow": "ap-invoices",
    "links": [{"text": "PDF", "url": "https://files.example.com/4471.pdf"}],
    "title": "Pay invoice 4471",
    "output": {"invoice": "4471", "amount": 12400.0},
    "confidence": 0.62,
}


def _env(bot: BotHarness) -> dict[str, str]:
    return {**os.environ, "HITL_URL": bot.url, "HITL_TOKEN": AGENT_TOKEN}


def _stdio(bot: BotHarness) -> "McpClient":
    from mcp.client.client import Client as McpClient
    from mcp.client.stdio import StdioServerParameters

    return McpClient(StdioServerParameters(command=HITL_MCP, env=_env(bot)))


async def _call(client: "McpClient", tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def test_the_tools_are_listed_with_schemas_an_agent_can_fill(bot: BotHarness) -> None:
    async def listed() -> dict[str, Any]:
        async with _stdio(bot) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    tools = anyio.run(listed)
    assert set(tools) == {"request_review", "get_review", "cancel_review"}
    request = tools["request_review"].input_schema
    assert set(request["required"]) == {"workflow", "title", "output", "confidence"}
    assert request["properties"]["wait_seconds"]["maximum"] == 55
    assert request["properties"]["wait_seconds"]["default"] == 50
    assert tools["get_review"].input_schema["required"] == ["id"]
    assert "get_review" in (tools["request_review"].description or "")
    assert request["properties"]["links"]["anyOf"][0]["type"] == "array"


def test_a_pending_review_is_picked_up_by_get_review_after_the_approval(
    bot: BotHarness,
) -> None:
    async def session() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with _stdio(bot) as client:
            pending = await _call(client, "request_review", **ASK, wait_seconds=0)
            again = await _call(client, "request_review", **ASK, wait_seconds=0)
            reviewer = Reviewer(bot, approve)
            decided = await _call(client, "get_review", id=pending["id"], wait_seconds=55)
            await anyio.to_thread.run_sync(reviewer.done)
            return pending, again, decided

    pending, again, decided = anyio.run(session)
    assert pending["status"] == "pending" and not pending["approved"]
    assert "Call get_review" in pending["next_step"] and pending["id"] in pending["next_step"]
    assert again["id"] == pending["id"]  # a retried tool call finds the same review
    assert decided["id"] == pending["id"] and decided["status"] == "approved"
    assert decided["approved"] and decided["final_output"] == ASK["output"]
    assert bot.item(decided["id"])["links"] == ASK["links"]
    assert [item["id"] for item in bot.api("GET", "/v1/reviews").json()["items"]] == [pending["id"]]


def test_cancel_review_and_refusals_are_explained(bot: BotHarness) -> None:
    async def session() -> tuple[dict[str, Any], Any, Any]:
        async with _stdio(bot) as client:
            pending = await _call(client, "request_review", **ASK, wait_seconds=0)
            cancelled = await _call(client, "cancel_review", id=pending["id"], reason="not needed")
            refused = await client.call_tool("request_review", {**ASK, "workflow": "nowhere"})
            unknown = await client.call_tool("get_review", {"id": "rv_nope", "wait_seconds": 0})
            return cancelled, refused, unknown

    cancelled, refused, unknown = anyio.run(session)
    assert cancelled["status"] == "cancelled" and "do not do it" in cancelled["next_step"]
    assert refused.is_error and "no_route" in refused.content[0].text
    assert unknown.is_error and "not_found" in unknown.content[0].text


@pytest.fixture
def mcp_over_http(bot: BotHarness) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [HITL_MCP, "--http", str(port)],
        env=_env(bot),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:  # until it listens (any HTTP answer will do)
            try:
                httpx.get(url, timeout=5, verify=TLS)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "hitl-mcp --http never listened"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_streamable_http_serves_the_same_tools(bot: BotHarness, mcp_over_http: str) -> None:
    from mcp.client.client import Client as McpClient

    async def session() -> dict[str, Any]:
        async with McpClient(mcp_over_http) as client:
            return await _call(client, "request_review", **ASK, wait_seconds=0.2)

    answer = anyio.run(session)
    assert answer["status"] == "pending" and bot.item(answer["id"])["workflow"] == "ap-invoices"

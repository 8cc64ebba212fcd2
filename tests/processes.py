"""Running `hitl serve` as a real process, the way an operator does."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness import AGENT_TOKEN, SIGNING_SECRET
from tests.slack_standin import SlackStandIn

HITL = str(Path(sys.executable).parent / "hitl")


def serve_env(
    database_url: str, standin: SlackStandIn, rules_path: Path, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(
        SLACK_BOT_TOKEN=standin.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.url,
        HITL_DATABASE_URL=database_url,
        HITL_RULES=str(rules_path),
        HITL_PORT=str(port),
        HITL_API_TOKENS=f"invoice-bot:{AGENT_TOKEN}",
        HITL_OUTBOX_POLL_SECONDS="0.2",
        HITL_RETRY_BASE_SECONDS="0.2",
        HITL_RETRY_MAX_SECONDS="0.5",
        HITL_OUTBOX_LEASE_SECONDS="2",  # the killed process's in-flight rows come back soon
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Starts `hitl serve` and returns once /healthz answers; its log goes to serve.log."""
    log_path = cwd / "serve.log"
    with log_path.open("ab") as log:  # a file, not a pipe: a full pipe would block the bot
        process = subprocess.Popen(
            [HITL, "serve"], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{env['HITL_PORT']}/healthz"
    deadline = time.monotonic() + 60  # generous: imports alone take seconds on a busy machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(log_path.read_text())
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("hitl serve did not become healthy")


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, as an operator would; a process that does not stop in time is killed and
    the test fails, so a hanging shutdown never goes unnoticed or outlives the test."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise AssertionError(f"hitl serve did not stop within {timeout}s of SIGTERM") from None

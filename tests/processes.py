"""Running `hitl serve` as a real process, the way an operator does."""

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness import AGENT_TOKEN, SIGNING_SECRET
from tests.plain_http import TLS
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
    """A port nothing listens on, for a process the test starts.

    Drawn below the kernel's ephemeral range: the kernel hands ports from that range to
    outgoing connections (hundreds a second while the suite runs), and one could take the
    port between this check and the bot's bind ("Address already in use")."""
    lowest_ephemeral = _lowest_ephemeral_port()
    if lowest_ephemeral > _LOWEST_PORT + 1000:
        for _ in range(100):
            port = _RANDOM.randrange(_LOWEST_PORT, lowest_ephemeral)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:  # no room below the range: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LOWEST_PORT = 20000  # above the ports local services (PostgreSQL, web servers) usually take
_RANDOM = random.SystemRandom()  # unseeded: test workers draw independently


def _lowest_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere the loop above just draws from below it


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
            if httpx.get(url, timeout=1, verify=TLS).status_code == 200:
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

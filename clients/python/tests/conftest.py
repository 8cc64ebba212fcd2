"""The client against a real hitl: the server's own fixtures (a database per backend, the
Slack stand-in, a running bot over real HTTP), with routes for items that expire and for
the README's examples."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness import AGENT_TOKEN, RULES, BotHarness

from hitl_client import AsyncClient, Client
from tests import conftest as server

# The server's fixtures, by name: a database per backend, the stand-in, a running bot.
_pg_dropper = server._pg_dropper
_pg_migrated = server._pg_migrated
_sqlite_migrated_template = server._sqlite_migrated_template
pg_server = server.pg_server
database_url = server.database_url
standin = server.standin
bot = server.bot

EXPIRING_ROUTE = """\
  - name: expiring
    match: {workflow: "expiring-*"}
    owner: {channel: C0EXPIRE, users: [U0ALICE]}
    escalation:
      - {after: 1s, to: [U0MANAGER]}
    on_exhausted: expire
  - name: readme
    match: {workflow: "agent-*"}
    owner: {channel: C0AGENTS}
  - name: refunds
    match: {workflow: refunds}
    owner: {channel: C0REFUNDS}
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES + EXPIRING_ROUTE)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}  # the expiring route's chain is seconds long


@pytest.fixture
def hitl(bot: BotHarness) -> Iterator[Client]:
    with Client(bot.url, token=AGENT_TOKEN, backoff=0.05, max_backoff=0.5) as client:
        yield client


@pytest.fixture
def async_hitl(bot: BotHarness) -> AsyncClient:
    return AsyncClient(bot.url, token=AGENT_TOKEN, backoff=0.05, max_backoff=0.5)

"""/metrics counts what the commands announce: every decision once, by status and source,
whoever made it (a person in Slack, the agent, the route on arrival, the escalation chain)."""

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from handlers import blocks
from tests.harness import BotHarness

RULES = """\
timezone: UTC
routes:
  - name: auto
    match: {workflow: auto}
    auto_approve_at: 0.9
    owner: {channel: C0AUTO, users: [U0ALICE]}
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1s, to: [U0MANAGER]}
    on_exhausted: expire
  - name: open
    match: {workflow: open}
    owner: {channel: C0OPEN, users: [U0ALICE]}
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    return path


@pytest.fixture
def bot_settings() -> dict:
    return {"sweep_seconds": 0.5}  # the chain here is seconds long


def _samples(bot: BotHarness, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    response = bot.http.get("/metrics")
    assert response.status_code == 200
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


def test_every_decision_is_counted_once_by_status_and_source(bot: BotHarness) -> None:
    auto = bot.submit(workflow="auto", confidence=0.95)
    assert auto["status"] == "auto_approved"

    chained = bot.submit(workflow="chain")
    assert bot.item(chained["id"], wait=30)["status"] == "expired"

    cancelled = bot.submit(workflow="open")
    response = bot.api("POST", f"/v1/reviews/{cancelled['id']}/cancel", json={})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    approved = bot.submit(workflow="open")
    assert bot.click(approved["id"], blocks.APPROVE, "U0ALICE").status_code == 200
    assert bot.item(approved["id"], wait=30)["status"] == "approved"

    assert _samples(bot, "hitl_decisions_total") == {
        (("source", "system"), ("status", "auto_approved")): 1.0,
        (("source", "system"), ("status", "expired")): 1.0,
        (("source", "api"), ("status", "cancelled")): 1.0,
        (("source", "slack"), ("status", "approved")): 1.0,
    }
    assert _samples(bot, "hitl_escalations_total") == {
        (("outcome", "escalated"),): 1.0,
        (("outcome", "exhausted"),): 1.0,
    }
    assert _samples(bot, "hitl_items_submitted_total") == {
        (("route", "auto"), ("status", "auto_approved")): 1.0,
        (("route", "chain"), ("status", "pending")): 1.0,
        (("route", "open"), ("status", "pending")): 2.0,
    }

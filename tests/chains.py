"""Escalation chains the deadline, batch-firing and replica tests (and the replica
benchmark) share: rules, a fixed clock and items created straight through storage."""

from datetime import UTC, datetime

from commands.escalation import first_step
from rules import load_rules_text
from storage import reviews
from storage.db import Database

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

# Two steps, 30 minutes then 2 hours: the storage-level tests fire them with `now` set.
CHAIN_RULES = """\
routes:
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 30m, to: [U0MANAGER], channel: C0ESC}
      - {after: 2h, to: [U0DIRECTOR, U0VP]}
"""

# Steps an hour away, for running processes: nothing fires until a test makes it due.
HOURLY_CHAIN_RULES = """\
routes:
  - name: chain
    match: {workflow: chain}
    owner: {channel: C0OWNER, users: [U0ALICE]}
    escalation:
      - {after: 1h, to: [U0MANAGER], channel: C0ESC}
      - {after: 1h, to: [U0DIRECTOR], channel: C0ESC}
"""


def create_chain_item(db: Database, n: int = 0) -> str:
    """A pending item on the `chain` route of CHAIN_RULES, created at T0."""
    route = load_rules_text(CHAIN_RULES).rules.routes[0]
    routing = reviews.Routing(
        route="chain",
        route_snapshot=route.model_dump(mode="json"),
        rules_version="v1",
        channel="C0OWNER",
        auto_approved=False,
        first_step=first_step(route, T0),
    )
    new = reviews.NewItem(
        agent="bot", workflow="chain", title="t", output="o", confidence=0.5, external_id=f"e{n}"
    )
    return reviews.create_item(db, new, routing, now=T0).item.id

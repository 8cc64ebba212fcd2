"""The digest mines structured items' edits per field (issue 11): a history where
reviewers keep correcting one field finds it, with the typical change; one where they
don't finds nothing."""

import random
from datetime import timedelta
from typing import Any

from digest import markdown, periods
from digest.build import build_digest
from rules import load_rules_text
from storage import reviews
from storage.db import Database
from tests.history import HISTORY_RULES

RULES = load_rules_text(HISTORY_RULES).rules
WEEK = periods.week("2026-W46", RULES.tzinfo)
REFUND = {"order_id": "8812", "amount": 40.0, "currency": "EUR", "notify_customer": True}


def _edited(db: Database, n: int, output: Any, final: Any, workflow: str = "refunds") -> None:
    """An item submitted during the week and approved with `final` by a reviewer."""
    at = WEEK.since + timedelta(hours=1 + n)
    new = reviews.NewItem(
        agent="refund-bot", workflow=workflow, title=f"Refund {n}", output=output, confidence=0.6
    )
    routing = reviews.Routing(
        route="refunds",
        route_snapshot={"name": "refunds", "owner": {"channel": "C0REFUNDS"}},
        rules_version="v1",
        channel="C0REFUNDS",
        auto_approved=False,
        post_to_slack=False,
    )
    item = reviews.create_item(db, new, routing, now=at).item
    edited = final if final != output else None
    result = reviews.approve(
        db, item.id, by="U0ALICE", source="slack", now=at, required=lambda _: 1,
        edited_output=edited,
    )  # fmt: skip
    assert result.outcome == reviews.Outcome.DECIDED


def test_a_field_reviewers_keep_correcting_is_found_with_its_typical_change(
    db: Database,
) -> None:
    for n in range(40):
        final = dict(REFUND)
        if n < 31:
            final["amount"] = 4.0 if n < 25 else 5.0
        if 20 <= n < 32:
            final["notify_customer"] = False
        if 32 <= n < 39:  # 7 of 40: under the 20 % a recurring edit needs
            final["order_id"] = f"88{n}"
        if n == 39:
            final["currency"] = "USD"
        _edited(db, n, dict(REFUND), final)
    # Text items edited in the same week: the text edits are mined beside them.
    for n in range(40, 44):
        _edited(db, n, "Payment terms net 30.", "Payment terms net 14.", workflow="notes")
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)
    found = [
        (e.workflow, e.field, e.kind, e.items, e.edited_items) for e in digest.recurring_field_edits
    ]
    assert found == [
        ("refunds", "amount", "corrected", 31, 40),
        ("refunds", "notify_customer", "switched_off", 12, 40),
    ]
    amount = digest.recurring_field_edits[0]
    assert (amount.typical_before, amount.typical_after, amount.typical_items) == ("40", "4", 25)
    assert [(e.workflow, e.items) for e in digest.recurring_edits] == [("notes", 4)]
    text = markdown.render(digest)
    assert "`amount` corrected in 31 of 40 edits (typical: 40 → 4)" in text
    assert "`notify_customer` switched off in 12 of 40 edits" in text


def test_edits_scattered_over_many_fields_find_nothing(db: Database) -> None:
    draw = random.Random(11)
    output = {f"field_{k}": k for k in range(30)}
    for n in range(40):
        final = dict(output)
        for key in draw.sample(sorted(output), 2):  # two fields of thirty, at random
            final[key] = output[key] + 1
        _edited(db, n, dict(output), final)
    digest = build_digest(db, RULES, WEEK, now=WEEK.until)
    assert digest.recurring_field_edits == []
    assert "Fields reviewers keep changing" not in markdown.render(digest)

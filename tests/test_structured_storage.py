"""Storage of structured items (issue 11): migration 0010 keeps every existing text item
readable as the same text, on SQLite and PostgreSQL (and back on a downgrade), and
stores objects with their
types; the digest's text edit mining still sees text items' strings."""

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import text

from storage import digest_queries, reviews
from storage.db import Database
from storage.migrate import alembic_config, migrate

TEXT = 'Booked to "account" 6300,\nüber € 12,400 — {not json} & <!here>'
EDITED = "Booked to account 6310."
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _insert_text_item(db: Database, item_id: str, output: str, final: str | None) -> None:
    """A row as hitl wrote it before 0010: output and final_output as plain text."""
    row: dict[str, Any] = {
        "id": item_id,
        "agent": "invoice-bot",
        "workflow": "ap-invoices",
        "route": "invoices",
        "route_snapshot": '{"name": "invoices", "owner": {"channel": "C0APREVIEW"}}',
        "rules_version": "v1",
        "title": "Invoice",
        "output": output,
        "final_output": final,
        "confidence": 0.5,
        "context": "{}",
        "links": "[]",
        "metadata": "{}",
        "status": "edited" if final else "pending",
        "channel": "C0APREVIEW",
        "escalation_level": 0,
        "escalations": "[]",
        "approval_round": 0,
        "created_at": NOW,
        "decided_at": NOW + timedelta(minutes=5) if final else None,
        "callback_status": "none",
    }
    columns = ", ".join(f'"{name}"' for name in row)
    values = ", ".join(f":{name}" for name in row)
    with db.engine.begin() as connection:
        connection.execute(text(f"INSERT INTO review_item ({columns}) VALUES ({values})"), row)


def test_existing_text_items_read_back_as_the_same_text_after_the_migration(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0009")
        _insert_text_item(db, "rv_old1", TEXT, EDITED)
        _insert_text_item(db, "rv_old2", "[1, 2]", None)  # text that looks like JSON
        migrate(db)
        edited = reviews.get_item(db, "rv_old1")
        pending = reviews.get_item(db, "rv_old2")
        assert edited is not None and pending is not None
        assert (edited.output, edited.final_output) == (TEXT, EDITED)
        assert (pending.output, pending.final_output) == ("[1, 2]", None)
        assert edited.output_schema is None and edited.field_order is None
        mined = list(
            digest_queries.edited_items(db, NOW - timedelta(days=1), NOW + timedelta(days=1))
        )
        assert [(m.output, m.final_output) for m in mined] == [(TEXT, EDITED)]
        _downgrade_to_0009(db)
        with db.engine.connect() as connection:
            query = text("SELECT output, final_output FROM review_item ORDER BY id")
            assert [tuple(row) for row in connection.execute(query)] == [
                (TEXT, EDITED),
                ("[1, 2]", None),
            ]
    finally:
        db.dispose()


def _downgrade_to_0009(db: Database) -> None:
    config = alembic_config()
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
        connection.commit()


def test_a_structured_item_keeps_its_types_and_field_order(db: Database) -> None:
    output = {"zeta": "8812", "amount": 40.0, "count": 4, "notify": True, "a": "x"}
    new = reviews.NewItem(
        agent="invoice-bot",
        workflow="refunds",
        title="Refund",
        output=output,
        confidence=0.5,
    )
    routing = reviews.Routing(
        route="invoices",
        route_snapshot={"name": "invoices", "owner": {"channel": "C0APREVIEW"}},
        rules_version="v1",
        channel="C0APREVIEW",
        auto_approved=False,
    )
    created = reviews.create_item(db, new, routing, now=NOW)
    stored = reviews.get_item(db, created.item.id)
    assert stored is not None
    assert stored.output == output
    assert [type(stored.output[k]) for k in output] == [str, float, int, bool, str]
    assert stored.field_order == list(output)
    assert stored.final_output is None

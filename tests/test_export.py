"""`hitl export`: every item exactly once, with its decision, approvers, changes, comments,
escalations and audit trail, as JSON Lines or CSV, filtered by period and workflow, on
SQLite and PostgreSQL. Run through click's runner against a real database."""

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from bot import cli
from bot.export import CSV_COLUMNS
from storage import audit
from storage.db import Database
from storage.export_queries import item_records
from storage.models import Approval, ItemComment, ReviewItem
from tests.history import generate_history

WEEK = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin


def _export(database_url: str, tmp_path: Path, *args: str) -> tuple[str, str]:
    env = {"HITL_DATABASE_URL": database_url, "HITL_RULES": str(tmp_path / "rules.yml")}
    result = CliRunner().invoke(cli.main, ["export", *args], env=env, prog_name="hitl")
    assert result.exit_code == 0, result.stderr
    return result.stdout, result.stderr


@pytest.fixture
def history(db: Database) -> Database:
    generate_history(db, week_start=WEEK, weeks=2, seed=3)
    return db


def _annotate(db: Database) -> tuple[str, str]:
    """Gives one edited item two approvals and a comment with awkward text, and one
    rejected item an audit entry: the parts of a record the generator leaves out."""
    with db.write() as session:
        items = list(session.exec(select(ReviewItem).order_by(ReviewItem.id)))
        edited = next(item for item in items if item.status == "edited")
        rejected = next(item for item in items if item.status == "rejected")
        at = edited.created_at + timedelta(minutes=5)
        session.add(Approval(item_id=edited.id, round=0, user_id="U0ALICE", at=at))
        session.add(Approval(item_id=edited.id, round=1, user_id="U0BOB", at=at))
        session.add(
            ItemComment(
                item_id=edited.id,
                user_id="U0CAROL",
                channel="C0APREVIEW",
                ts="1.000001",
                text='Amount is "12,50", not 1250\nsee PDF',
                at=at,
            )
        )
        audit.record(
            session,
            item_id=rejected.id,
            at=at,
            actor="U0ALICE",
            source="slack",
            action="rejected",
            from_status="pending",
            to_status="rejected",
            reason="wrong_amount",
        )
        return edited.id, rejected.id


def test_every_item_exactly_once_with_its_record(
    history: Database, database_url: str, tmp_path: Path
) -> None:
    edited_id, rejected_id = _annotate(history)
    with history.read() as session:
        expected = {item.id: item for item in session.exec(select(ReviewItem))}
    stdout, stderr = _export(database_url, tmp_path)
    records = [json.loads(line) for line in stdout.splitlines()]
    counts = Counter(record["id"] for record in records)
    assert set(counts) == set(expected) and set(counts.values()) == {1}
    assert stderr.strip() == f"exported {len(expected)} item(s)"
    created = [record["created_at"] for record in records]
    assert created == sorted(created)  # oldest first
    by_id = {record["id"]: record for record in records}
    edited = by_id[edited_id]
    assert edited["status"] == "edited" and edited["edited"] is True
    assert edited["final_output"] == expected[edited_id].final_output != edited["output"]
    assert [a["user"] for a in edited["approvers"]] == ["U0ALICE", "U0BOB"]
    assert edited["comments"][0]["text"] == 'Amount is "12,50", not 1250\nsee PDF'
    assert edited["decision"]["status"] == "edited"
    rejected = by_id[rejected_id]
    assert rejected["decision"]["reason"] is not None
    assert rejected["audit"] == [
        {
            "at": rejected["audit"][0]["at"],
            "actor": "U0ALICE",
            "source": "slack",
            "action": "rejected",
            "from_status": "pending",
            "to_status": "rejected",
            "detail": {"reason": "wrong_amount"},
        }
    ]
    escalated = [r for r in records if r["escalation_level"] > 0]
    assert escalated and all(r["escalations"] for r in escalated)


def test_csv_header_escaping_and_filters(
    history: Database, database_url: str, tmp_path: Path
) -> None:
    edited_id, _ = _annotate(history)
    since, until = WEEK.date(), (WEEK + timedelta(days=7)).date()
    with history.read() as session:
        wanted = {
            item.id
            for item in session.exec(select(ReviewItem))
            if item.workflow == "ap-invoices"
            and WEEK.replace(hour=0) <= item.created_at < WEEK.replace(hour=0) + timedelta(days=7)
        }
    stdout, _ = _export(
        database_url,
        tmp_path,
        *("--format", "csv", "--workflow", "ap-invoices"),
        *("--since", since.isoformat(), "--until", until.isoformat()),
    )
    rows = list(csv.reader(io.StringIO(stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert wanted and {row["id"] for row in body} == wanted and len(body) == len(wanted)
    if edited_id in wanted:  # a comment with quotes, a comma and a newline survives CSV
        row = next(row for row in body if row["id"] == edited_id)
        assert json.loads(row["comments"])[0]["text"] == 'Amount is "12,50", not 1250\nsee PDF'


def test_pages_cover_every_item_once_at_any_page_size(history: Database) -> None:
    """Keyset pages: items created at the same instant never fall between two pages."""
    with history.write() as session:  # ten items sharing one created_at
        for item in list(session.exec(select(ReviewItem).limit(10))):
            item.created_at = WEEK
            session.add(item)
    since, until = WEEK, WEEK + timedelta(days=1)  # the tied ten and the day after them
    with history.read() as session:
        in_window = col(ReviewItem.created_at) >= since, col(ReviewItem.created_at) < until
        total = len(list(session.exec(select(ReviewItem.id).where(*in_window))))
    assert total > 20
    for page in (1, 3, 7, 1000):
        records = item_records(history, since=since, until=until, page=page)
        ids = [record.item.id for record in records]
        assert len(ids) == len(set(ids)) == total

"""`hitl export`: every item with its decision, changes, comments, escalations and audit
trail, one record per item, as JSON Lines or CSV (docs/export.md).

Records are written as they are read (storage.export_queries pages through the items), so
memory stays flat however many items there are.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from storage.export_queries import ItemRecord

# CSV columns, in order; nested values (lists, objects) are JSON text in their cell.
CSV_COLUMNS = (
    "id",
    "agent",
    "external_id",
    "workflow",
    "route",
    "rules_version",
    "title",
    "confidence",
    "status",
    "created_at",
    "decided_at",
    "decided_by",
    "decision_source",
    "reject_reason",
    "note",
    "output",
    "final_output",
    "edited",
    "approvers",
    "escalation_level",
    "escalations",
    "comments",
    "metadata",
    "context",
    "audit",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record_dict(record: ItemRecord) -> dict[str, Any]:
    """One item's export record (the JSON Lines object; docs/export.md)."""
    item, decision = record.item, record.decision
    return {
        "id": item.id,
        "agent": item.agent,
        "external_id": item.external_id,
        "workflow": item.workflow,
        "route": item.route,
        "rules_version": item.rules_version,
        "title": item.title,
        "confidence": item.confidence,
        "status": item.status.value,
        "created_at": _iso(item.created_at),
        "decided_at": _iso(item.decided_at),
        "output": item.output,
        "final_output": item.final_output,
        # The change a reviewer made: the final output differs from the agent's.
        "edited": item.final_output is not None and item.final_output != item.output,
        "decision": None
        if decision is None
        else {
            "status": decision.status.value,
            "by": decision.by,
            "source": decision.source,
            "reason": decision.reason,
            "note": decision.note,
            "at": _iso(decision.at),
        },
        "approvers": [
            {"user": a.user_id, "round": a.round, "at": _iso(a.at)} for a in record.approvals
        ],
        "escalation_level": item.escalation_level,
        "escalations": item.escalations,
        "comments": [
            {
                "user": c.user_id,
                "at": _iso(c.at),
                "text": c.text,
                "edited_at": _iso(c.edited_at),
                "deleted": c.deleted_at is not None,
            }
            for c in record.comments
        ],
        "metadata": item.item_metadata,
        "context": item.context,
        "audit": [
            {
                "at": _iso(e.at),
                "actor": e.actor,
                "source": e.source,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "detail": e.detail,
            }
            for e in record.audit
        ],
    }


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def csv_row(record: dict[str, Any]) -> list[Any]:
    decision = record["decision"] or {}
    flat = {
        **record,
        "decided_by": decision.get("by"),
        "decision_source": decision.get("source"),
        "reject_reason": decision.get("reason"),
        "note": decision.get("note"),
    }
    return [_cell(flat[column]) for column in CSV_COLUMNS]


def jsonl_lines(records: Iterable[ItemRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record_dict(record), ensure_ascii=False) + "\n"


def write(records: Iterable[ItemRecord], out: IO[str], output_format: str) -> int:
    """Writes every record to `out`; returns how many."""
    count = 0
    if output_format == "jsonl":
        for line in jsonl_lines(records):
            out.write(line)
            count += 1
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(csv_row(record_dict(record)))
        count += 1
    return count

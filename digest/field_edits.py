"""The fields reviewers keep correcting in structured items (issue 11): "`amount`
corrected in 31 of 40 edits (typical: 40 → 4)", "`notify_customer` switched off in 12
of 40". Same thresholds and ranking as the text edits (digest/edits.py): a change is
reported when it recurs in at least 3 items and 20 % of a workflow's edited structured
items, most frequent first, at most 5 per workflow."""

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import col

from digest import model
from storage import digest_queries as q
from storage.db import Database
from storage.models import ReviewItem, Status
from structured import field_changes, format_value

FieldEditKind = Literal["corrected", "switched_on", "switched_off", "cleared", "filled"]
EXAMPLES = 3
_PAIRS_KEPT = 1000  # distinct (old, new) pairs counted per field before the rare are dropped

Linker = Callable[[q.Example], model.Example]


def kind_of(before: Any, after: Any, *, present: tuple[bool, bool]) -> FieldEditKind:
    """How a field changed: booleans switch on or off, a value is cleared or filled in,
    anything else is corrected."""
    had, has = present
    if isinstance(before, bool) and isinstance(after, bool):
        return "switched_on" if after else "switched_off"
    if had and not has:
        return "cleared"
    if has and not had:
        return "filled"
    return "corrected"


@dataclass
class _Group:
    items: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FieldEdit:
    field: str
    kind: FieldEditKind
    items: int
    edited_items: int
    typical_before: str  # as people read it ("40", "Yes", "—")
    typical_after: str
    typical_items: int  # items that made exactly the typical change
    examples: tuple[str, ...]


class FieldEditMiner:
    """Edited structured items of ONE workflow, field by field."""

    def __init__(self) -> None:
        self.edited_items = 0
        self._groups: dict[tuple[str, FieldEditKind], _Group] = {}

    def add(self, item_id: str, output: Mapping[str, Any], final: Mapping[str, Any]) -> None:
        self.edited_items += 1
        for change in field_changes(output, final):
            key = change["field"]
            kind = kind_of(change["from"], change["to"], present=(key in output, key in final))
            group = self._groups.setdefault((key, kind), _Group())
            group.items += 1
            group.pairs[(format_value(change["from"]), format_value(change["to"]))] += 1
            if len(group.pairs) > _PAIRS_KEPT:
                group.pairs = Counter(dict(group.pairs.most_common(_PAIRS_KEPT // 2)))
            if len(group.examples) < EXAMPLES:
                group.examples.append(item_id)

    def recurring(
        self, *, min_items: int = 3, min_share: float = 0.2, top: int = 5
    ) -> list[FieldEdit]:
        needed = max(min_items, min_share * self.edited_items)
        found = []
        for (key, kind), group in self._groups.items():
            if group.items < needed:
                continue
            (before, after), typical = group.pairs.most_common(1)[0]
            found.append(
                FieldEdit(
                    key, kind, group.items, self.edited_items, before, after, typical,
                    tuple(group.examples),
                )
            )  # fmt: skip
        found.sort(key=lambda edit: (-edit.items, edit.field, edit.kind))
        return found[:top]


def describe(edit: model.RecurringFieldEdit) -> str:
    """One digest line: "`amount` corrected in 31 of 40 edits (typical: 40 → 4)"."""
    verb = edit.kind.replace("_", " ")
    line = f"`{edit.field}` {verb} in {edit.items} of {edit.edited_items} edits"
    if edit.kind in ("corrected", "cleared", "filled"):
        line += f" (typical: {edit.typical_before} → {edit.typical_after})"
    return line


@dataclass(frozen=True)
class _Edited:
    workflow: str
    item_id: str
    output: dict[str, Any]
    final_output: dict[str, Any]


def _edited_structured(db: Database, since: datetime, until: datetime) -> Iterator[_Edited]:
    """Edited structured items of the period, workflow by workflow (text items have no
    `field_order`, so the text edits' much larger stream is not read again here)."""
    query = (
        select(
            col(ReviewItem.workflow),
            col(ReviewItem.id),
            col(ReviewItem.output),
            col(ReviewItem.final_output),
        )
        .where(
            col(ReviewItem.status) == Status.EDITED,
            col(ReviewItem.created_at) >= since,
            col(ReviewItem.created_at) < until,
            col(ReviewItem.field_order).is_not(None),
        )
        .order_by(col(ReviewItem.workflow), col(ReviewItem.created_at))
    )
    with q.read(db) as session:
        result = session.connection().execution_options(yield_per=500).execute(query)
        for rows in result.partitions():
            for workflow, item_id, output, final_output in rows:
                if isinstance(output, dict) and isinstance(final_output, dict):
                    yield _Edited(workflow, item_id, output, final_output)


def recurring_field_edits(
    db: Database, period: model.Period, link: Linker
) -> list[model.RecurringFieldEdit]:
    """The digest's per-field edits, most frequent first across workflows."""
    found: list[model.RecurringFieldEdit] = []
    miners: dict[str, FieldEditMiner] = {}
    for row in _edited_structured(db, period.since, period.until):
        miners.setdefault(row.workflow, FieldEditMiner()).add(
            row.item_id, row.output, row.final_output
        )
    for workflow, miner in miners.items():
        for edit in miner.recurring():
            found.append(
                model.RecurringFieldEdit(
                    workflow=workflow,
                    field=edit.field,
                    kind=edit.kind,
                    items=edit.items,
                    edited_items=edit.edited_items,
                    share_of_edits=round(edit.items / edit.edited_items, 3),
                    typical_before=edit.typical_before,
                    typical_after=edit.typical_after,
                    typical_items=edit.typical_items,
                    examples=[link(e) for e in q.item_examples(db, list(edit.examples))],
                )
            )
    found.sort(key=lambda edit: -edit.items)
    return found

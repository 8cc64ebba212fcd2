"""What the hourly drift alarm reads: people's decisions by `decided_at`, with the
workflow and the item's `metadata.model` / `metadata.prompt_version`.

Both reads are a range on `decided_at` (`ix_review_item_decided`, migration 0011). The
hourly counts are grouped by the database, so five weeks of a busy installation come back
as a few thousand rows; the examples are streamed newest first and stop at the third.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import col

from storage.db import Database
from storage.models import ReviewItem, Status

# Only a person's decision says something about the agent.
HUMAN_DECISIONS = (Status.APPROVED, Status.EDITED, Status.REJECTED)
METADATA_FIELDS = ("model", "prompt_version")

HourRow = tuple[datetime, str, str | None, str | None, str, int]


def _metadata(field: str) -> ColumnElement[Any]:
    # JSON_EXTRACT on SQLite, ->> on PostgreSQL (SQLAlchemy picks per dialect).
    return col(ReviewItem.item_metadata)[field].as_string()


def label(value: Any) -> str | None:
    """A metadata value as the alarm names it: SQLite hands back a number where
    PostgreSQL's ->> gives text, so both become the same string; empty is no value."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _decided_between(since: datetime, until: datetime) -> ColumnElement[bool]:
    # The status is checked in Python, not here: a condition on it would let the planner
    # (SQLite's, without statistics) walk every decision of all time by status
    # (ix_review_item_digest) instead of the few weeks by decided_at.
    return (col(ReviewItem.decided_at) >= since) & (col(ReviewItem.decided_at) < until)


def _hour(db: Database) -> ColumnElement[Any]:
    """decided_at's UTC clock hour (in UTC whatever the session's time zone)."""
    decided_at = col(ReviewItem.decided_at)
    if db.is_postgres:
        return func.date_trunc("hour", func.timezone("UTC", decided_at))
    return func.strftime("%Y-%m-%d %H:00:00", decided_at)  # stored as naive UTC text


def _as_utc_hour(value: datetime | str) -> datetime:
    hour = datetime.fromisoformat(value) if isinstance(value, str) else value
    return hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour.astimezone(UTC)


def hourly_decisions(db: Database, since: datetime, until: datetime) -> Iterator[HourRow]:
    """(hour, workflow, model, prompt_version, status, count) of the decisions with
    `since <= decided_at < until`, counted by the database: what the hourly alarm reads
    (`digest.drift.series_of_counts` takes it), a few thousand rows for five weeks
    however busy they were. Statuses that are not a person's decision are dropped here."""
    hour = _hour(db)
    model, prompt_version = _metadata("model"), _metadata("prompt_version")
    workflow, status = col(ReviewItem.workflow), col(ReviewItem.status)
    query = (
        select(hour, workflow, model, prompt_version, status, func.count())
        .where(_decided_between(since, until))
        .group_by(hour, workflow, model, prompt_version, status)
    )
    with db.read() as session:
        rows = session.connection().execute(query).all()
    for at, its_workflow, its_model, its_version, its_status, count in rows:
        if its_status in HUMAN_DECISIONS:
            yield (
                _as_utc_hour(at),
                its_workflow,
                label(its_model),
                label(its_version),
                str(its_status),
                int(count),
            )


def recent_examples(
    db: Database,
    *,
    workflow: str,
    statuses: Sequence[Status],
    dimension: str,
    value: str | None,
    since: datetime,
    until: datetime,
    limit: int = 3,
) -> list[str]:
    """Ids of the newest items of `workflow` decided with one of `statuses` in
    [since, until), limited to one model or prompt_version unless `dimension` is
    "overall". Newest first down the decided_at index, everything else compared in
    Python (the metadata with the same `label` as the series, so a numeric
    prompt_version matches on both backends): the rise's events are near the top."""
    field = dimension if dimension in METADATA_FIELDS else None
    query = (
        select(
            col(ReviewItem.id),
            col(ReviewItem.workflow),
            col(ReviewItem.status),
            _metadata(field) if field else col(ReviewItem.workflow),
        )
        .where(_decided_between(since, until))
        .order_by(col(ReviewItem.decided_at).desc(), col(ReviewItem.id).desc())
    )
    found: list[str] = []
    with db.read() as session:
        result = session.connection().execution_options(yield_per=200).execute(query)
        for item_id, its_workflow, status, shown in result:
            if its_workflow != workflow or status not in statuses:
                continue
            if field is None or label(shown) == value:
                found.append(item_id)
                if len(found) == limit:
                    break
        result.close()
    return found

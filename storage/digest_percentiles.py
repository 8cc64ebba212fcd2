"""Percentiles of the minutes items waited for a human decision, per route and workflow.

percentile_cont on PostgreSQL. SQLite has no percentile function: one scan of the waits in
ascending order picks the values at the two ranks around share * (n - 1) in every group,
which are then interpolated as percentile_cont does.
"""

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from storage.db import Database
from storage.digest_queries import GROUPINGS, HUMAN, TwoPeriods, seconds_between
from storage.models import ReviewItem

# Per (is_current, group name): the percentiles in the order of the shares asked for.
Percentiles = dict[tuple[bool, str], list[float | None]]


def decision_minutes(
    db: Database, periods: TwoPeriods, shares: tuple[float, ...]
) -> dict[str, Percentiles]:
    """Percentiles of creation-to-decision minutes of human decisions, per period and
    route, and per period and workflow ({"route": …, "workflow": …})."""
    current = periods.is_current()
    minutes = seconds_between(col(ReviewItem.decided_at), col(ReviewItem.created_at), db) / 60.0
    human = periods.rows(HUMAN)
    if db.is_sqlite:
        return _percentiles_in_one_scan(db, current, minutes, human, shares)
    result: dict[str, Percentiles] = {}
    with db.read() as session:
        for by in GROUPINGS:
            key = getattr(ReviewItem, by)
            columns = [func.percentile_cont(s).within_group(minutes.asc()) for s in shares]
            query = select(current, key, *columns).where(human).group_by(current, key)
            result[by] = {
                (bool(row[0]), str(row[1])): [None if v is None else float(v) for v in row[2:]]
                for row in session.execute(query).all()
            }
    return result


def _percentiles_in_one_scan(
    db: Database,
    current: ColumnElement[bool],
    value: ColumnElement[float | Decimal],
    where: ColumnElement[bool],
    shares: tuple[float, ...],
) -> dict[str, Percentiles]:
    """percentile_cont for SQLite, which has none. One scan of the values in ascending
    order counts each value's rank in its route and in its workflow, and keeps those at
    the two ranks around share * (n - 1): one sort serves both groupings, and only a few
    values per group are ever held."""
    route, workflow = col(ReviewItem.route), col(ReviewItem.workflow)
    sizes = select(current, route, workflow, func.count()).where(where)
    values = select(current, route, workflow, value).where(where).order_by(value)
    # Keys are (grouping, is_current, name); SQLite's 1/0 and True/False are equal keys.
    size: dict[tuple[str, bool, str], int] = {}
    picked: dict[tuple[str, bool, str], dict[int, float]] = {}
    with db.read() as session:
        for is_current, route_name, workflow_name, count in session.execute(
            sizes.group_by(current, route, workflow)
        ):
            for key in (("route", is_current, route_name), ("workflow", is_current, workflow_name)):
                size[key] = size.get(key, 0) + count
        wanted = {key: _ranks_around(n, shares) for key, n in size.items()}
        seen = dict.fromkeys(size, 0)
        # On the Core connection: the ORM's row handling would cost more than the scan.
        # Rows come from SQLite's cursor a partition at a time, so memory stays flat.
        for rows in session.connection().execute(values).partitions(5000):
            for is_current, route_name, workflow_name, minutes in rows:
                for key in (
                    ("route", is_current, route_name),
                    ("workflow", is_current, workflow_name),
                ):
                    rank = seen[key]
                    seen[key] = rank + 1
                    if rank in wanted[key]:
                        picked.setdefault(key, {})[rank] = float(minutes)
    result: dict[str, Percentiles] = {by: {} for by in GROUPINGS}
    for (by, is_current, name), ranks in picked.items():
        result[by][(bool(is_current), str(name))] = interpolate(
            size[(by, is_current, name)], ranks, shares
        )
    return result


def _ranks_around(count: int, shares: Iterable[float]) -> set[int]:
    ranks: set[int] = set()
    for share in shares:
        lower = int(share * (count - 1))
        ranks.update((lower, lower + 1))
    return ranks


def interpolate(count: int, ranks: dict[int, float], shares: Iterable[float]) -> list[float | None]:
    """percentile_cont from the values at the ranks around share * (count - 1)."""
    values: list[float | None] = []
    for share in shares:
        position = share * (count - 1)
        lower = int(position)
        if lower not in ranks:
            values.append(None)
        elif lower + 1 not in ranks:
            values.append(ranks[lower])
        else:
            low, high = ranks[lower], ranks[lower + 1]
            values.append(low + (high - low) * (position - lower))
    return values

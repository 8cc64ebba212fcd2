"""Percentiles of the minutes items waited for a human decision, per route and workflow.

percentile_cont on PostgreSQL. SQLite has no percentile function: the waits are read in one
scan and sorted per group in memory, and the values at the two ranks around share * (n - 1)
are interpolated as percentile_cont does.
"""

from array import array
from collections.abc import Iterable
from decimal import Decimal
from itertools import chain

from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from storage.db import Database
from storage.digest_queries import GROUPINGS, HUMAN, TwoPeriods, read, seconds_between
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
    # On PostgreSQL the sorts stay on the server (in memory, see digest_queries.read):
    # bringing a value per decision here would cost as much and hold them all in memory.
    result: dict[str, Percentiles] = {}
    with read(db) as session:
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
    """percentile_cont for SQLite, which has none. One unsorted scan collects the values of
    each (period, route, workflow) cell as 8-byte doubles; each route's and workflow's
    values are then sorted in memory. SQLite would sort them all the same, but through
    its generic record sorter, and hand every row to Python in order: several times the
    cost. Memory is 8 bytes per human decision of the two periods (2 MB for 250,000)."""
    route, workflow = col(ReviewItem.route), col(ReviewItem.workflow)
    cells: dict[tuple[int, str, str], array[float]] = {}  # SQLite's flag: 0 or 1
    with read(db) as session:
        query = select(current, route, workflow, value).where(where)
        # Read straight from the driver's cursor: SQLAlchemy's row objects would cost more
        # than the scan, and the values need no conversion (a flag, two strings, a float).
        # Not streamed: SQLAlchemy would then buffer rows ahead of the driver's cursor.
        scan = session.connection().execute(query)
        cursor = scan.cursor
        while rows := cursor.fetchmany(5000):
            for is_current, route_name, workflow_name, minutes in rows:
                if minutes is None:
                    continue
                key = (is_current, route_name, workflow_name)
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = array("d")
                cell.append(float(minutes))
        scan.close()
    result: dict[str, Percentiles] = {by: {} for by in GROUPINGS}
    for position, by in enumerate(GROUPINGS, start=1):
        groups: dict[tuple[bool, str], list[array[float]]] = {}
        for key, cell in cells.items():
            groups.setdefault((bool(key[0]), str(key[position])), []).append(cell)
        for group, parts in groups.items():
            values = sorted(chain.from_iterable(parts))
            ranks = _ranks_around(len(values), shares)
            picked = {rank: values[rank] for rank in ranks if rank < len(values)}
            result[by][group] = interpolate(len(values), picked, shares)
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

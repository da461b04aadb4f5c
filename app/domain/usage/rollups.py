"""The usage roll-ups: which exist, which one a graph reads, and how sums of new records are added to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import add, attrgetter, itemgetter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.base import table_of
from app.domain.rowsets import INT, TEXT, RowSet, is_sqlite
from app.domain.usage.models import (
    UsageDay,
    UsageDayByKey,
    UsageDayByModel,
    UsageHour,
    UsageHourByKey,
    UsageHourByModel,
    UsageMinute,
)

SUMMED = ("requests", "input_tokens", "output_tokens", "billed_nanos", "cost_nanos")
ALL_DIMENSIONS = ("project_id", "api_key_id", "model_id")
# a key belongs to one project for life: its usage is in that project's alone
IMPLIES = {"api_key_id": ("project_id",)}


@dataclass(frozen=True)
class Rollup:
    """One roll-up table: its bucket column, the minutes a bucket spans, and the dimensions it keeps apart."""

    model: type[Any]
    bucket: str
    minutes: int
    dimensions: tuple[str, ...]

    @property
    def table(self) -> Table:
        return table_of(self.model)

    def one_row_per(self, dimensions: Iterable[str]) -> bool:
        """Whether a bucket holds at most one row for each value of these dimensions (nothing to sum)."""
        given = set(dimensions)
        implied = given.union(*(IMPLIES.get(d, ()) for d in given))
        return set(self.dimensions) <= implied


ROLLUPS = (
    Rollup(UsageMinute, "minute", 1, ALL_DIMENSIONS),
    Rollup(UsageHour, "hour", 60, ALL_DIMENSIONS),
    Rollup(UsageHourByModel, "hour", 60, ("model_id", "project_id")),
    Rollup(UsageHourByKey, "hour", 60, ("api_key_id", "project_id")),
    Rollup(UsageDay, "day", 1440, ALL_DIMENSIONS),
    Rollup(UsageDayByModel, "day", 1440, ("model_id", "project_id")),
    Rollup(UsageDayByKey, "day", 1440, ("api_key_id", "project_id")),
)


def rollup_for(bucket_minutes: int, dimensions: Iterable[str]) -> Rollup:
    """The smallest roll-up that answers buckets of this width apart by these dimensions."""
    needed = set(dimensions)
    fitting = [r for r in ROLLUPS if bucket_minutes % r.minutes == 0 and needed <= set(r.dimensions)]
    # the widest buckets, then the fewest dimensions: the fewest rows to read
    return min(fitting, key=lambda r: (-r.minutes, len(r.dimensions)))


# (organization, project, key, model) -> the SUMMED figures of their records
Sums = dict[tuple[str, ...], list[int]]


_KEY = attrgetter("organization_id", *ALL_DIMENSIONS)
_FIGURES = attrgetter(*SUMMED[1:])


def summed(records: Iterable[Any]) -> Sums:
    """The records' figures summed per organization, project, key and model: the finest roll-up's rows.

    A record has them as attributes (the usage writer's rows are named tuples).
    """
    finest: Sums = {}
    for record in records:
        key = _KEY(record)
        figures = finest.get(key)
        if figures is None:
            finest[key] = [1, *_FIGURES(record)]
        else:
            figures[:] = map(add, figures, (1, *_FIGURES(record)))
    return finest


async def add_to_rollups(session: AsyncSession, records: Iterable[Mapping[str, Any]], minute: int) -> None:
    """Sum records stored in `minute` (since the epoch) into every roll-up at once: a bulk load, a test."""
    await add_sums(session, [(minute, summed(SimpleNamespace(**record) for record in records))])


async def add_sums(session: AsyncSession, sums: Sequence[tuple[int, Sums]]) -> None:
    """Add sums, each of its minute, to every roll-up: one statement each (PostgreSQL: one in all)."""
    if not sums:
        return
    sums = _per_minute(sums)
    if not is_sqlite(session):  # every roll-up in one statement: one round trip
        rowsets, statement = _upserts()
        parameters: dict[str, Any] = {}
        for rollup, added in zip(ROLLUPS, rowsets, strict=True):
            parameters |= added.document(_bucketed(rollup, sums))
        await session.execute(statement, parameters)
        return
    for rollup in ROLLUPS:
        added, upsert = _upsert(rollup, True)
        await added.execute(session, upsert, _bucketed(rollup, sums))


def _per_minute(sums: Sequence[tuple[int, Sums]]) -> list[tuple[int, Sums]]:
    """The sums of one minute added together: each roll-up then buckets each key once, not once per group."""
    merged: dict[int, Sums] = {}
    for minute, finest in sums:
        into = merged.setdefault(minute, {})
        for key, figures in finest.items():
            _add(into, key, figures)
    return list(merged.items())


def _add(sums: dict[Any, list[int]], key: Any, figures: list[int]) -> None:
    """Add `figures` to the sums under `key` (a new list: the caller's figures are never changed)."""
    total = sums.get(key)
    sums[key] = list(figures) if total is None else [a + b for a, b in zip(total, figures, strict=True)]


def _bucketed(rollup: Rollup, sums: Sequence[tuple[int, Sums]]) -> list[tuple[Any, ...]]:
    """The rows of `rollup`: (organization, bucket, *its dimensions, *SUMMED), sorted by its key.

    One row per conflict key (PostgreSQL refuses to update a row twice in one statement), in a fixed
    order (concurrent writers never deadlock).
    """
    rows: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    # the organization and the roll-up's dimensions: a tuple whatever their number
    kept = itemgetter(0, *(ALL_DIMENSIONS.index(d) + 1 for d in rollup.dimensions))
    for minute, finest in sums:
        bucket = minute // rollup.minutes
        for key, figures in finest.items():
            _add(rows, (bucket, kept(key)), figures)
    # unique keys: the sort never compares figures
    return sorted((org, bucket, *dims, *figures) for (bucket, (org, *dims)), figures in rows.items())


@cache
def _upsert(rollup: Rollup, is_sqlite: bool, added: RowSet | None = None) -> tuple[RowSet, Any]:
    """The statement that adds rows to one roll-up (built once), reading them from `added`."""
    added = added or _rows_of(rollup, is_sqlite)
    table = rollup.table
    upsert = added.insert(table, order_by=["organization_id", rollup.bucket, *rollup.dimensions])
    return added, upsert.on_conflict_do_update(
        index_elements=["organization_id", rollup.bucket, *rollup.dimensions],
        set_={name: table.c[name] + upsert.excluded[name] for name in SUMMED},
    )


def _rows_of(rollup: Rollup, is_sqlite: bool, name: str = "added") -> RowSet:
    """The rows `_bucketed` makes for `rollup`, as a RowSet."""
    columns = [("organization_id", TEXT), (rollup.bucket, INT), *((d, TEXT) for d in rollup.dimensions)]
    return RowSet(is_sqlite, name, columns + [(s, INT) for s in SUMMED])


@cache
def _upserts() -> tuple[list[RowSet], Any]:
    """PostgreSQL: the upserts of every roll-up as the data-modifying CTEs of one statement.

    The outer SELECT reads the CTEs in the order of ROLLUPS, so every writer adds to the roll-ups in one
    order, each upsert's rows in the order of their keys: concurrent writers never deadlock.
    """
    rowsets = [_rows_of(rollup, False, f"added{index}") for index, rollup in enumerate(ROLLUPS)]
    ctes = [
        _upsert(rollup, False, added)[1].returning(literal(1)).cte(f"to_{rollup.table.name}")
        for rollup, added in zip(ROLLUPS, rowsets, strict=True)
    ]
    return rowsets, select(*(select(func.count()).select_from(cte).scalar_subquery() for cte in ctes))


async def rebuild_from_hours(session: AsyncSession) -> None:
    """Sum usage_hour afresh into the other hour and day roll-ups: after loading usage in bulk."""
    hours = table_of(UsageHour)
    for rollup in ROLLUPS:
        if rollup.minutes < 60 or rollup.model is UsageHour:
            continue
        bucket = (hours.c.hour // (rollup.minutes // 60)).label(rollup.bucket)
        dimensions = [hours.c[d] for d in rollup.dimensions]
        query = select(
            hours.c.organization_id, bucket, *dimensions, *[func.sum(hours.c[s]) for s in SUMMED]
        ).group_by(hours.c.organization_id, bucket, *dimensions)
        names = ["organization_id", rollup.bucket, *rollup.dimensions, *SUMMED]
        await session.execute(delete(rollup.table))
        await session.execute(insert(rollup.table).from_select(names, query))

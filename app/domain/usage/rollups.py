"""The usage roll-ups: which exist, which one a graph reads, and how a group of new records is added to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
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


_DIMENSIONS = tuple(dict.fromkeys(rollup.dimensions for rollup in ROLLUPS))  # each once


def rollup_for(bucket_minutes: int, dimensions: Iterable[str]) -> Rollup:
    """The smallest roll-up that answers buckets of this width apart by these dimensions."""
    needed = set(dimensions)
    fitting = [r for r in ROLLUPS if bucket_minutes % r.minutes == 0 and needed <= set(r.dimensions)]
    # the widest buckets, then the fewest dimensions: the fewest rows to read
    return min(fitting, key=lambda r: (-r.minutes, len(r.dimensions)))


async def add_to_rollups(session: AsyncSession, records: Iterable[Mapping[str, Any]], minute: int) -> None:
    """Sum newly stored records (stored in `minute`, since the epoch) into every roll-up: one statement each."""
    finest: dict[tuple[str, ...], list[int]] = {}
    for record in records:
        key = (record["organization_id"], *(record[d] for d in ALL_DIMENSIONS))
        figures = finest.get(key)
        if figures is None:
            figures = finest[key] = [0] * len(SUMMED)
        figures[0] += 1
        for index, name in enumerate(SUMMED[1:], 1):
            figures[index] += record[name]
    by_dimensions = {dimensions: _narrowed(finest, dimensions) for dimensions in _DIMENSIONS}
    if not is_sqlite(session):  # every roll-up in one statement: one round trip
        rowsets, statement = _upserts()
        parameters: dict[str, Any] = {}
        for rollup in ROLLUPS:
            added = rowsets[rollup.dimensions]
            parameters |= added.document(by_dimensions[rollup.dimensions])
            parameters[added.constant_name(rollup.bucket)] = minute // rollup.minutes
        await session.execute(statement, parameters)
        return
    for rollup in ROLLUPS:
        added, upsert = _upsert(rollup, True)
        rows = by_dimensions[rollup.dimensions]
        await added.execute(session, upsert, rows, {rollup.bucket: minute // rollup.minutes})


def _narrowed(finest: dict[tuple[str, ...], list[int]], dimensions: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The rows of a roll-up keeping `dimensions` apart: (organization, *dimensions, *SUMMED), sorted by key.

    One row per conflict key (PostgreSQL refuses to update a row twice in one statement), in a fixed
    order (concurrent groups never deadlock).
    """
    if dimensions == ALL_DIMENSIONS:
        return [(*key, *figures) for key, figures in sorted(finest.items())]
    rows: dict[tuple[str, ...], list[int]] = {}
    picks = [ALL_DIMENSIONS.index(d) + 1 for d in dimensions]
    for key, figures in finest.items():
        narrow = (key[0], *(key[i] for i in picks))
        summed = rows.get(narrow)
        if summed is None:
            rows[narrow] = figures
        else:
            rows[narrow] = [a + b for a, b in zip(summed, figures, strict=True)]
    return [(*key, *figures) for key, figures in sorted(rows.items())]


@cache
def _upsert(rollup: Rollup, is_sqlite: bool, added: RowSet | None = None) -> tuple[RowSet, Any]:
    """The statement that adds a group's rows to one roll-up (built once), reading them from `added`."""
    keys = ["organization_id", *rollup.dimensions]
    added = added or RowSet(
        is_sqlite, "added", [(name, TEXT) for name in keys] + [(name, INT) for name in SUMMED]
    )
    table = rollup.table
    upsert = added.insert(table, [rollup.bucket], order_by=keys)
    return added, upsert.on_conflict_do_update(
        index_elements=["organization_id", rollup.bucket, *rollup.dimensions],
        set_={name: table.c[name] + upsert.excluded[name] for name in SUMMED},
    )


@cache
def _upserts() -> tuple[dict[tuple[str, ...], RowSet], Any]:
    """PostgreSQL: the upserts of every roll-up as the data-modifying CTEs of one statement.

    The roll-ups keeping the same dimensions apart read the same rows (one RowSet, one bound value each).
    The outer SELECT reads the CTEs in the order of ROLLUPS, so every writer adds to the roll-ups in one
    order, each upsert's rows in the order of their keys: concurrent groups never deadlock.
    """
    rowsets = {
        dimensions: RowSet(False, f"added{index}", [(name, TEXT) for name in ("organization_id", *dimensions)]
                           + [(name, INT) for name in SUMMED])
        for index, dimensions in enumerate(_DIMENSIONS)
    }  # fmt: skip
    ctes = [
        _upsert(rollup, False, rowsets[rollup.dimensions])[1]
        .returning(literal(1))
        .cte(f"to_{rollup.table.name}")
        for rollup in ROLLUPS
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

"""Usage and spend over time for the console's graphs, read from the roll-up that fits each graph."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from itertools import islice
from operator import gt, itemgetter
from typing import Any
from typing import cast as cast_as

import msgspec
from sqlalchemy import BigInteger, CursorResult, Select, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import ErrorCode, InvalidInput
from app.domain.orgs.access import require_member
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.service import list_projects
from app.domain.rowsets import is_sqlite
from app.domain.usage.rollups import rollup_for

MAX_POINTS = 20_000
MAX_FILTER_ITEMS = 100  # per filter list: a graph shows a few series, and the database binds each one


class Granularity(Enum):
    MINUTE = 1
    HOUR = 60
    DAY = 1440


class GroupBy(Enum):
    NONE = "NONE"
    MODEL = "MODEL"
    PROJECT = "PROJECT"
    API_KEY = "API_KEY"


_GROUP_COLUMN = {GroupBy.MODEL: "model_id", GroupBy.PROJECT: "project_id", GroupBy.API_KEY: "api_key_id"}


@dataclass(frozen=True)
class UsageFilter:
    models: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()


# the figures a graph can show, as UsageColumns names them, and the roll-ups' columns they are read from
FIGURES = {"requests": "requests", "input_tokens": "input_tokens", "output_tokens": "output_tokens",
           "spend_nanos": "billed_nanos"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class UsageColumns:
    """One group's figures as columns, index by index: a bucket's start and what was used in it.

    A figure the graph did not ask for is not read: its column is None.
    """

    group: str | None
    starts: list[datetime] = field(default_factory=list)
    requests: list[int] | None = field(default_factory=list)
    input_tokens: list[int] | None = field(default_factory=list)
    output_tokens: list[int] | None = field(default_factory=list)
    spend_nanos: list[int] | None = field(default_factory=list)

    def figure(self, name: str) -> list[int]:
        """One figure's column, which must have been read."""
        column: list[int] | None = getattr(self, name)
        if column is None:
            raise LookupError(f"the graph's {name} were not read")
        return column


def _minute(at: datetime, field: str) -> int:
    if at.tzinfo is None:
        raise InvalidInput("Give times with a timezone (UTC).", field=field)
    return int(at.timestamp()) // 60


async def usage_series(
    session: AsyncSession,
    actor: Actor,
    organization_id: str,
    *,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    group_by: GroupBy = GroupBy.NONE,
    filters: UsageFilter = UsageFilter(),
    figures: Collection[str] = tuple(FIGURES),
) -> list[UsageColumns]:
    """Sums per bucket (UTC-aligned, whole: a range starting or ending inside a bucket includes all of it)
    and group, as columns per group in the order groups first appear; Org Admins see the organization,
    others their projects. Only the `figures` named (of FIGURES) are read: each costs a column of every
    point."""
    figures = [name for name in FIGURES if name in figures]
    for items, argument in ((filters.models, "models"), (filters.project_ids, "projectIds"),
                            (filters.api_key_ids, "apiKeyIds")):  # fmt: skip
        if len(items) > MAX_FILTER_ITEMS:
            raise InvalidInput(
                f"Filter on at most {MAX_FILTER_ITEMS} items.", code=ErrorCode.TOO_LONG, field=argument
            )
    _, role = await require_member(session, actor, organization_id)
    first, last = _minute(start, "from"), _minute(end, "to")
    if last <= first:
        raise InvalidInput("`to` must be after `from`.", field="to")
    size = granularity.value
    if (last - first) // size > MAX_POINTS:
        raise InvalidInput(
            f"At most {MAX_POINTS} buckets: choose a coarser granularity.", field="granularity"
        )
    project_ids = set(filters.project_ids)
    if role is not OrganizationRole.ORGANIZATION_ADMIN:
        visible = {project.id for project in await list_projects(session, actor, organization_id)}
        project_ids = project_ids & visible if project_ids else visible
        if not project_ids:
            return []
    group_column = _GROUP_COLUMN.get(group_by)
    chosen: dict[str, Sequence[str]] = {
        "project_id": sorted(project_ids),
        "model_id": filters.models,
        "api_key_id": filters.api_key_ids,
    }
    chosen = {column_name: values for column_name, values in chosen.items() if values}
    source = rollup_for(size, {*chosen, *([group_column] if group_column else [])})
    table = source.table.c  # Core columns: no ORM loading of the rows
    bucket_column = table[source.bucket]
    width = size // source.minutes  # the bucket's width in rows
    # whole rows: from the one holding `from` up to the one holding `to` (unless `to` is its very start)
    low, high = first // source.minutes, -(-math.ceil(end.timestamp()) // (60 * source.minutes))
    bucket = (bucket_column // width * width).label("bucket") if width > 1 else bucket_column.label("bucket")
    group = table[group_column].label("grp") if group_column else literal(None).label("grp")
    query = select(bucket, group).where(table.organization_id == organization_id)
    if width == 1 and group_column and source.one_row_per([group_column]):
        # the roll-up keeps this grouping's rows apart already (a graph by key): its rows as they are
        query = query.add_columns(*[table[FIGURES[name]].label(name) for name in figures])
    else:
        # sums as BIGINT: PostgreSQL's SUM of a bigint is a numeric, which asyncpg hands over as a Decimal
        sums = [cast(func.sum(table[FIGURES[name]]), BigInteger).label(name) for name in figures]
        query = query.add_columns(*sums).group_by(bucket, group)
    query = query.where(bucket_column >= low - low % width).where(bucket_column < high)
    for column_name, values in chosen.items():
        query = query.where(table[column_name].in_(values))
    sqlite = is_sqlite(session)
    result = cast_as(CursorResult[Any], await session.execute(_per_group(query, figures, sqlite)))
    # the driver's own rows: a JSON array or a list of integers needs no conversion by SQLAlchemy
    rows = result.cursor.fetchall()
    result.close()
    return _as_columns(rows, figures, source.minutes, _INTEGERS.decode if sqlite else None)


# SQLite's json_group_array writes integers as JSON numbers: exact, whatever their size
_INTEGERS = msgspec.json.Decoder(list[int])


def _per_group(points: Select[Any], figures: Sequence[str], sqlite: bool) -> Select[Any]:
    """One row per group of the points (bucket, group, figures...): the group, then its buckets and each
    figure as arrays, item by item (the aggregates of a group take its points in one same order).

    A 30-day hourly graph by 100 keys has 72,100 points. As rows, the driver built a tuple of six
    objects for each, most of the request's CPU on SQLite; as arrays the database builds (in C), 100
    rows cross the driver, each array one object. The arrays are in no promised order (_as_columns puts
    them in order): an ORDER BY inside the aggregate made PostgreSQL sort all the points by group first
    (on disk, at the default work_mem) where it now hashes them, and SQLite before 3.44 has none.
    """
    rows = points.subquery("points")
    aggregate = func.json_group_array if sqlite else func.array_agg
    arrays = [aggregate(rows.c[name]) for name in ("bucket", *figures)]
    return select(rows.c.grp, *arrays).group_by(rows.c.grp)


class _StartOf(dict[int, datetime]):
    """Each bucket's start (as a UTC time), made once per bucket and shared by the groups."""

    def __init__(self, row_minutes: int) -> None:
        super().__init__()
        self.seconds = 60 * row_minutes

    def __missing__(self, bucket: int) -> datetime:
        start = self[bucket] = datetime.fromtimestamp(bucket * self.seconds, UTC)
        return start


def _as_columns(
    rows: Sequence[Any], figures: Sequence[str], row_minutes: int, decode: Callable[[str], list[int]] | None
) -> list[UsageColumns]:
    """Rows of (group, buckets, figures...), arrays (`decode`d if given), as columns per group, in the
    order groups first appear."""
    start_of = _StartOf(row_minutes)
    found = []
    for group, *arrays in rows:
        buckets, *columns = map(decode, arrays) if decode else arrays
        # C-level comparisons and item lookups: no Python code per point
        if any(map(gt, buckets, islice(buckets, 1, None))):
            take = itemgetter(*sorted(range(len(buckets)), key=buckets.__getitem__))
            buckets, *columns = (list(take(column)) for column in (buckets, *columns))
        read = dict.fromkeys(FIGURES) | dict(zip(figures, columns, strict=True))
        found.append(UsageColumns(group, list(map(start_of.__getitem__, buckets)), **read))
    # in the order groups first appear, bucket by bucket
    return sorted(found, key=lambda columns: (columns.starts[0], columns.group or ""))

"""Usage and spend over time for the console's graphs, read from the roll-up that fits each graph."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from itertools import repeat
from operator import add, itemgetter, mul
from typing import Any
from typing import cast as cast_as

from sqlalchemy import BigInteger, CursorResult, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import ErrorCode, InvalidInput
from app.domain.orgs.access import require_member
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.service import list_projects
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


_SUMS = ("requests", "input_tokens", "output_tokens", "billed_nanos")
_GROUP_COLUMN = {GroupBy.MODEL: "model_id", GroupBy.PROJECT: "project_id", GroupBy.API_KEY: "api_key_id"}


@dataclass(frozen=True)
class UsageFilter:
    models: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageColumns:
    """One group's figures as columns, index by index: a bucket's start and what was used in it."""

    group: str | None
    starts: list[datetime] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    spend_nanos: list[int] = field(default_factory=list)


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
) -> list[UsageColumns]:
    """Sums per bucket (UTC-aligned, whole: a range starting or ending inside a bucket includes all of it)
    and group, as columns per group in the order groups first appear; Org Admins see the organization,
    others their projects."""
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
        query = query.add_columns(*[table[name] for name in _SUMS])
    else:
        # sums as BIGINT: PostgreSQL's SUM of a bigint is a numeric, which asyncpg hands over as a Decimal
        sums = [cast(func.sum(table[name]), BigInteger) for name in _SUMS]
        query = query.add_columns(*sums).group_by(bucket, group)
    # no ORDER BY: the rows are put in order in memory (_as_columns), cheaper than a database's sort
    # of 72,000 rows (PostgreSQL spills it to disk at the default work_mem)
    query = query.where(bucket_column >= low - low % width).where(bucket_column < high)
    for column_name, values in chosen.items():
        query = query.where(table[column_name].in_(values))
    result = cast_as(CursorResult[Any], await session.execute(query))
    # the driver's own rows: integers and strings need no conversion, and SQLAlchemy's Row for each
    # of a 100-key graph's 72,000 points cost more than the query itself
    rows = result.cursor.fetchall()
    result.close()
    return _as_columns(rows, source.minutes)


def _as_columns(rows: Sequence[Any], row_minutes: int) -> list[UsageColumns]:
    """Rows of (bucket, group, sums...) in any order, as columns per group, in the order groups first appear."""
    if not rows:
        return []
    # transpositions, sorts and slices, all in C: no object and no Python code per point (a 100-key
    # graph has 72,000 of them); one datetime per bucket, shared by the groups. Column by column, not
    # zip(*rows): that makes an iterator per row, and the garbage collector walks them all
    buckets, groups, *figures = [list(map(itemgetter(n), rows)) for n in range(len(rows[0]))]
    names = sorted(set(groups), key=lambda name: name or "")
    number = dict(zip(names, range(len(names)), strict=True))
    # each row's place: its group's number, then its bucket (buckets since the epoch fit 32 bits)
    place = list(map(add, map(mul, map(number.__getitem__, groups), repeat(1 << 32)), buckets))
    order = sorted(range(len(place)), key=place.__getitem__)
    take = itemgetter(*order) if len(order) > 1 else lambda column: (column[0],)
    figures = [list(take(column)) for column in figures]
    start_of = {b: datetime.fromtimestamp(b * 60 * row_minutes, UTC) for b in set(buckets)}
    starts = list(map(start_of.__getitem__, take(buckets)))
    found, at = [], 0
    counts = Counter(groups)
    for name in names:
        end = at + counts[name]
        found.append(UsageColumns(name, starts[at:end], *(column[at:end] for column in figures)))
        at = end
    # in the order groups first appear, bucket by bucket
    return sorted(found, key=lambda columns: (columns.starts[0], columns.group or ""))

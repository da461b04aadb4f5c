"""Usage and spend over time for the console's graphs, read from the roll-up that fits each graph."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import InvalidInput
from app.domain.orgs.access import require_member
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.service import list_projects
from app.domain.usage.rollups import rollup_for

MAX_POINTS = 20_000


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
    dimensions = {group_column} if group_column else set()
    for column_name, values in (
        ("project_id", project_ids),
        ("model_id", filters.models),
        ("api_key_id", filters.api_key_ids),
    ):
        if values:
            dimensions.add(column_name)
    source = rollup_for(size, dimensions)
    rollup: Any = source.model  # its columns, as SQL expressions
    row_minutes = source.minutes
    column = getattr(rollup, source.bucket)
    width = size // row_minutes  # the bucket's width in rows
    # whole rows: from the one holding `from` up to the one holding `to` (unless `to` is its very start)
    low, high = first // row_minutes, -(-math.ceil(end.timestamp()) // (60 * row_minutes))
    bucket = (column // width * width).label("bucket") if width > 1 else column.label("bucket")
    group = getattr(rollup, group_column).label("grp") if group_column else literal(None).label("grp")
    query = (
        select(
            bucket,
            group,
            func.sum(rollup.requests),
            func.sum(rollup.input_tokens),
            func.sum(rollup.output_tokens),
            func.sum(rollup.billed_nanos),
        )
        .where(rollup.organization_id == organization_id)
        .where(column >= low - low % width)
        .where(column < high)
        .group_by(bucket, group)
        .order_by(bucket, group)
    )
    if project_ids:
        query = query.where(rollup.project_id.in_(sorted(project_ids)))
    if filters.models:
        query = query.where(rollup.model_id.in_(filters.models))
    if filters.api_key_ids:
        query = query.where(rollup.api_key_id.in_(filters.api_key_ids))
    # plain lists appended row by row: a 100-key graph has 72,000 figures a column, no object per point
    by_group: dict[str | None, UsageColumns] = {}
    epoch, step = datetime(1970, 1, 1, tzinfo=UTC), timedelta(minutes=row_minutes)
    for b, g, r, i, o, s in await session.execute(query):
        columns = by_group.get(g)
        if columns is None:
            columns = by_group[g] = UsageColumns(g)
        columns.starts.append(epoch + step * b)
        columns.requests.append(int(r))
        columns.input_tokens.append(int(i))
        columns.output_tokens.append(int(o))
        columns.spend_nanos.append(int(s))
    return list(by_group.values())

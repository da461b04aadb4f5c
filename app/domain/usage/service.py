"""Usage and spend over time for the console's graphs, read from the per-minute or per-hour roll-ups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import ErrorCode, InvalidInput
from app.domain.orgs.access import require_member
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.service import list_projects
from app.domain.usage.models import UsageHour, UsageMinute, UsageRollup

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

# the roll-ups a granularity reads: (table, its bucket column, minutes per row)
_SOURCE: dict[Granularity, tuple[type[UsageRollup], str, int]] = {
    Granularity.MINUTE: (UsageMinute, "minute", 1),
    Granularity.HOUR: (UsageHour, "hour", 60),
    Granularity.DAY: (UsageHour, "hour", 60),
}


@dataclass(frozen=True)
class UsageFilter:
    models: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsagePoint:
    start: datetime
    group: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    spend_nanos: int


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
) -> list[UsagePoint]:
    """Sums per bucket (UTC-aligned, whole: a range starting or ending inside a bucket includes all of it)
    and group; Org Admins see the organization, others their projects."""
    for items, field in ((filters.models, "models"), (filters.project_ids, "projectIds"),
                         (filters.api_key_ids, "apiKeyIds")):  # fmt: skip
        if len(items) > MAX_FILTER_ITEMS:
            raise InvalidInput(
                f"Filter on at most {MAX_FILTER_ITEMS} items.", code=ErrorCode.TOO_LONG, field=field
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
    table, bucket_column, row_minutes = _SOURCE[granularity]
    rollup: Any = table  # its columns, as SQL expressions
    column = getattr(rollup, bucket_column)
    width = size // row_minutes  # the bucket's width in rows
    # whole rows: from the one holding `from` up to the one holding `to` (unless `to` is its very start)
    low, high = first // row_minutes, -(-math.ceil(end.timestamp()) // (60 * row_minutes))
    bucket = (column // width * width).label("bucket") if width > 1 else column.label("bucket")
    group = (
        getattr(rollup, _GROUP_COLUMN[group_by]).label("grp")
        if group_by in _GROUP_COLUMN
        else literal(None).label("grp")
    )
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
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [
        UsagePoint(epoch + timedelta(minutes=int(b) * row_minutes), g, int(r), int(i), int(o), int(s))
        for b, g, r, i, o, s in await session.execute(query)
    ]

"""Usage and spend over time for the console's graphs, read from the per-minute roll-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import InvalidInput
from app.domain.orgs.access import require_member
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.service import list_projects
from app.domain.usage.models import UsageMinute

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


_GROUP_COLUMN = {
    GroupBy.MODEL: UsageMinute.model_id,
    GroupBy.PROJECT: UsageMinute.project_id,
    GroupBy.API_KEY: UsageMinute.api_key_id,
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
    """Sums per bucket (UTC-aligned) and group; Org Admins see the organization, others their projects."""
    _, role = await require_member(session, actor, organization_id)
    first, last = _minute(start, "from"), _minute(end, "to")
    if last <= first:
        raise InvalidInput("`to` must be after `from`.", field="to")
    size = granularity.value
    if (last - first) // size > MAX_POINTS:
        raise InvalidInput(f"At most {MAX_POINTS} buckets: choose a coarser granularity.", field="granularity")
    project_ids = set(filters.project_ids)
    if role is not OrganizationRole.ORGANIZATION_ADMIN:
        visible = {project.id for project in await list_projects(session, actor, organization_id)}
        project_ids = project_ids & visible if project_ids else visible
        if not project_ids:
            return []
    bucket = (UsageMinute.minute // size * size).label("bucket") if size > 1 else UsageMinute.minute.label("bucket")
    group = _GROUP_COLUMN[group_by].label("grp") if group_by in _GROUP_COLUMN else literal(None).label("grp")
    query = (
        select(
            bucket,
            group,
            func.sum(UsageMinute.requests),
            func.sum(UsageMinute.input_tokens),
            func.sum(UsageMinute.output_tokens),
            func.sum(UsageMinute.billed_nanos),
        )
        .where(UsageMinute.organization_id == organization_id)
        .where(UsageMinute.minute >= first - first % size)
        .where(UsageMinute.minute < last)
        .group_by(bucket, group)
        .order_by(bucket, group)
    )
    if project_ids:
        query = query.where(UsageMinute.project_id.in_(sorted(project_ids)))  # type: ignore[attr-defined]
    if filters.models:
        query = query.where(UsageMinute.model_id.in_(filters.models))  # type: ignore[attr-defined]
    if filters.api_key_ids:
        query = query.where(UsageMinute.api_key_id.in_(filters.api_key_ids))  # type: ignore[attr-defined]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [
        UsagePoint(epoch + timedelta(minutes=int(b)), g, int(r), int(i), int(o), int(s))
        for b, g, r, i, o, s in await session.execute(query)
    ]

"""DataLoaders, made per request: each batches one kind of lookup into one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col
from strawberry.dataloader import DataLoader

from app.domain.accounts.models import User
from app.domain.api_keys.models import ApiKey
from app.domain.credits.models import CreditConsumption, CreditGrant
from app.domain.projects.models import Project, ProjectMembership

K = TypeVar("K", bound=Hashable)
Row = TypeVar("Row")
Session = Callable[[], Awaitable[AsyncSession]]


def _by_id(session: Session, model: Any) -> DataLoader[Any, Any]:
    async def load(ids: Sequence[str]) -> list[Any]:
        rows = {
            row.id: row for row in await (await session()).scalars(select(model).where(model.id.in_(ids)))
        }
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _grouped(session: Session, column: Any, order: Iterable[Any]) -> DataLoader[Any, list[Any]]:
    model = column.class_

    async def load(keys: Sequence[Any]) -> list[list[Any]]:
        groups: dict[Any, list[Any]] = defaultdict(list)
        query = select(model).where(column.in_(keys)).order_by(*order)
        for row in await (await session()).scalars(query):
            groups[getattr(row, column.key)].append(row)
        return [groups[key] for key in keys]

    return DataLoader(load_fn=load)


async def _project_roles(
    session: Session, projects: DataLoader[str, Any], keys: Sequence[tuple[str, str]]
) -> list[list[ProjectMembership]]:
    """The project memberships of (organization, user) pairs: a Members page's project roles, in one query.

    The projects come along and fill the project loader: a page's roles and their projects' names
    are one round trip, not two.
    """
    query = (
        select(ProjectMembership, Project)
        .join(Project, col(Project.id) == col(ProjectMembership.project_id))
        .where(col(Project.organization_id).in_({org for org, _ in keys}))
        .where(col(ProjectMembership.user_id).in_({user for _, user in keys}))
        .order_by(col(ProjectMembership.created_at), col(ProjectMembership.project_id))
    )
    groups: dict[tuple[str, str], list[ProjectMembership]] = defaultdict(list)
    for membership, project in await (await session()).execute(query):
        groups[(project.organization_id, membership.user_id)].append(membership)
        projects.prime(project.id, project)
    return [groups[key] for key in keys]


@dataclass(frozen=True)
class PartRequest:
    """One partition of a query (the rows whose `column` is `value`, e.g. a project's keys): its first
    `limit` rows in the query's order, or (`limit` None) how many rows it holds.

    Requests with equal `batch` ask the same query and limit of other values: they are read together.
    """

    batch: Hashable
    value: Any
    query: Select[Any] = field(compare=False)
    column: Any = field(compare=False)
    limit: int | None = field(compare=False)


async def _partitions(session: Session, requests: Sequence[PartRequest]) -> list[Any]:
    """Each batch's partitions in one statement: ROW_NUMBER() OVER (PARTITION BY ...) keeps each one's page."""
    batches: dict[Hashable, list[PartRequest]] = defaultdict(list)
    for request in requests:
        batches[request.batch].append(request)
    found: dict[tuple[Hashable, Any], Any] = {}
    for batch, asked in batches.items():
        query, column, limit = asked[0].query, asked[0].column, asked[0].limit
        chosen = query.where(column.in_({request.value for request in asked})).order_by(None)
        if limit is None:
            counted = chosen.subquery()
            statement = select(counted.c[column.key], func.count()).group_by(counted.c[column.key])
            found.update(((batch, value), n) for value, n in await (await session()).execute(statement))
            continue
        place = func.row_number().over(partition_by=column, order_by=list(query._order_by_clauses))
        ranked = chosen.add_columns(place.label("page_place")).subquery()
        rows = aliased(query.column_descriptions[0]["entity"], ranked)
        statement = select(rows).where(ranked.c.page_place <= limit).order_by(ranked.c.page_place)
        for row in await (await session()).scalars(statement):
            found.setdefault((batch, getattr(row, column.key)), []).append(row)
    return [found.get((r.batch, r.value), [] if r.limit is not None else 0) for r in requests]


class Loaders:
    """The request's loaders; they read through the request's read session."""

    def __init__(self, session: Session) -> None:
        self.user = _by_id(session, User)
        self.project = _by_id(session, Project)
        self.project_roles = DataLoader(load_fn=partial(_project_roles, session, self.project))
        self.api_key = _by_id(session, ApiKey)
        self.partitions = DataLoader(load_fn=partial(_partitions, session))
        self.credit_grant = _by_id(session, CreditGrant)
        self.consumptions_by_entry = _grouped(session, CreditConsumption.entry_id, (CreditConsumption.id,))
        self._session = session

    def clear(self) -> None:
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()

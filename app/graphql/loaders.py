"""DataLoaders, made per request: each batches one kind of lookup into one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
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


async def _project_roles(session: Session, keys: Sequence[tuple[str, str]]) -> list[list[ProjectMembership]]:
    """The project memberships of (organization, user) pairs: a Members page's project roles, in one query."""
    query = (
        select(ProjectMembership, col(Project.organization_id))
        .join(Project, col(Project.id) == col(ProjectMembership.project_id))
        .where(col(Project.organization_id).in_({org for org, _ in keys}))
        .where(col(ProjectMembership.user_id).in_({user for _, user in keys}))
        .order_by(col(ProjectMembership.created_at), col(ProjectMembership.project_id))
    )
    groups: dict[tuple[str, str], list[ProjectMembership]] = defaultdict(list)
    for membership, org in await (await session()).execute(query):
        groups[(org, membership.user_id)].append(membership)
    return [groups[key] for key in keys]


class Loaders:
    """The request's loaders; they read through the request's read session."""

    def __init__(self, session: Session) -> None:
        self.user = _by_id(session, User)
        self.project = _by_id(session, Project)
        self.project_roles = DataLoader(load_fn=partial(_project_roles, session))
        self.api_key = _by_id(session, ApiKey)
        self.api_keys_by_project = _grouped(session, ApiKey.project_id, (ApiKey.created_at, ApiKey.id))  # type: ignore[arg-type]
        self.project_members_by_project = _grouped(
            session,
            ProjectMembership.project_id,
            (ProjectMembership.created_at, ProjectMembership.user_id),  # type: ignore[arg-type]
        )
        self.projects_by_org = _grouped(session, Project.organization_id, (Project.created_at, Project.id))  # type: ignore[arg-type]
        self.credit_grant = _by_id(session, CreditGrant)
        self.consumptions_by_entry = _grouped(session, CreditConsumption.entry_id, (CreditConsumption.id,))
        self._session = session

    def clear(self) -> None:
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()

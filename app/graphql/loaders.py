"""DataLoaders, made per request: each batches one kind of lookup into one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.domain.accounts.models import User
from app.domain.api_keys.models import ApiKey
from app.domain.credits.models import CreditConsumption, CreditGrant
from app.domain.orgs.models import Membership
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


class Loaders:
    """The request's loaders; they read through the request's read session."""

    def __init__(self, session: Session) -> None:
        self.user = _by_id(session, User)
        self.project = _by_id(session, Project)
        self.api_key = _by_id(session, ApiKey)
        self.members_by_org = _grouped(
            session,
            Membership.organization_id,
            (Membership.created_at, Membership.user_id),  # type: ignore[arg-type]
        )
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

    async def project_memberships_in_org(self, org_id: str) -> dict[str, list[ProjectMembership]]:
        """Every project membership of an organization, by user (for the Members page's project roles)."""
        projects = await self.projects_by_org.load(org_id)
        groups: dict[str, list[ProjectMembership]] = defaultdict(list)
        for memberships in await self.project_members_by_project.load_many([p.id for p in projects]):
            for membership in memberships:
                groups[membership.user_id].append(membership)
        return groups

    def clear(self) -> None:
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()

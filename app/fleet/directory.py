"""What the hot path knows without asking the database: API keys and each organization's plans.

Entries are loaded on first use and kept until a commit changes the organization
(`app.db.organization_changed`), or until one of its plans ends by itself (a canceled
subscription's paid period runs out, a model reaches its deprecation date), whichever comes
first. The commit hook drops the entry here at once, and with Redis bumps
the organization's generation there, which every replica's next rate-limit call compares with the
generation its entry was loaded under (see ratelimit.Guard). So a revoked key, a new subscription
or added credits take effect on the very next request, on every replica.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.api_keys.models import ApiKey
from app.domain.base import hash_secret
from app.domain.catalog.models import RateLimits
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.projects.models import Project, ProjectRateLimit

MAX_KEYS = 200_000


@dataclass(frozen=True, slots=True)
class KeyEntry:
    api_key_id: str
    project_id: str
    organization_id: str
    usable: bool  # not revoked, project not archived


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """Who pays for a model in an organization right now, and the organization-level limits."""

    kind: str  # "subscription" | "paygo" | "free" | "none"
    limits: RateLimits | None
    until: datetime | None = None  # when time alone ends this plan (see plans.service.Plan.until)


@dataclass(slots=True)
class OrgState:
    organization_id: str
    name: str
    type: OrganizationType
    generation: int
    plans: dict[str, ModelPlan]
    project_limits: dict[tuple[str, str], ProjectRateLimit] = field(default_factory=dict)
    # the admission's buckets per (project, model), derived from the above on first use
    limits: dict[tuple[str, str], Any] = field(default_factory=dict)
    # the first moment one of the plans ends by itself: the entry is reloaded from then on
    expires_at: datetime | None = None


PlanLoader = Callable[[AsyncSession, Organization], Awaitable[dict[str, ModelPlan]]]


class Directory:
    """The process's cache of keys and organizations, kept exact by commit hooks and generations."""

    def __init__(
        self, open_session: Callable[[], AsyncSession], load_plans: PlanLoader, redis: Any = None
    ) -> None:
        self._open_session = open_session
        self._load_plans = load_plans
        self._redis = redis
        self._keys: OrderedDict[str, KeyEntry | None] = OrderedDict()
        self._keys_of_org: dict[str, set[str]] = {}
        self._orgs: dict[str, OrgState] = {}

    @staticmethod
    def generation_key(organization_id: str) -> str:
        return f"gen:{organization_id}"

    async def key(self, secret: str) -> KeyEntry | None:
        """The key's entry (None: unknown); loaded from the database on a miss."""
        digest = hash_secret(secret)
        if digest in self._keys:
            self._keys.move_to_end(digest)
            return self._keys[digest]
        async with self._open_session() as session:
            row = (
                await session.execute(
                    select(
                        col(ApiKey.id),
                        col(ApiKey.project_id),
                        col(Project.organization_id),
                        col(ApiKey.revoked_at),
                        col(Project.archived_at),
                    )
                    .join(Project, col(Project.id) == col(ApiKey.project_id))
                    .where(col(ApiKey.secret_hash) == digest)
                )
            ).first()
        entry = None if row is None else KeyEntry(row[0], row[1], row[2], row[3] is None and row[4] is None)
        self._remember(digest, entry)
        return entry

    def _remember(self, digest: str, entry: KeyEntry | None) -> None:
        self._keys[digest] = entry
        if entry is not None:
            self._keys_of_org.setdefault(entry.organization_id, set()).add(digest)
        while len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)

    async def organization(self, organization_id: str) -> OrgState | None:
        state = self._orgs.get(organization_id)
        if state is None or (state.expires_at is not None and clock.now() >= state.expires_at):
            state = await self._load(organization_id)
        return state

    async def _load(self, organization_id: str) -> OrgState | None:
        # the generation is read before the state: a change committed in between makes it stale, never lost
        generation = (
            int(await self._redis.get(self.generation_key(organization_id)) or 0) if self._redis else 0
        )
        async with self._open_session() as session:
            organization = await session.get(Organization, organization_id)
            if organization is None:
                return None
            plans = await self._load_plans(session, organization)
            limits = await session.scalars(
                select(ProjectRateLimit)
                .join(Project, col(Project.id) == col(ProjectRateLimit.project_id))
                .where(col(Project.organization_id) == organization_id)
            )
            project_limits = {(row.project_id, row.model_id): row for row in limits}
        state = OrgState(
            organization_id, organization.name, organization.type, generation, plans, project_limits,
            expires_at=min((plan.until for plan in plans.values() if plan.until is not None), default=None),
        )  # fmt: skip
        self._orgs[organization_id] = state
        return state

    async def is_current(self, state: OrgState) -> bool:
        """Whether no commit changed the organization since the entry was loaded (always, without Redis)."""
        if self._redis is None:
            return True
        return int(await self._redis.get(self.generation_key(state.organization_id)) or 0) == state.generation

    def forget(self, organization_ids: frozenset[str] | set[str]) -> None:
        """Drop what is known of these organizations (and their keys) from this process."""
        for organization_id in organization_ids:
            self._orgs.pop(organization_id, None)
            for digest in self._keys_of_org.pop(organization_id, ()):
                self._keys.pop(digest, None)

    async def changed(self, organization_ids: frozenset[str]) -> None:
        """Commit hook: forget here, and tell the other replicas through the generation in Redis."""
        self.forget(organization_ids)
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for organization_id in organization_ids:
                    pipe.incr(self.generation_key(organization_id))
                await pipe.execute()

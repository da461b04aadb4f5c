"""What the hot path knows without asking the database: API keys and each organization's plans.

Entries are loaded on first use and kept until the organization changes (its version in the
database is bumped by the changing transaction, whatever process made it: see fleet.versions),
until one of its plans ends by itself (a canceled subscription's paid period runs out, a model
reaches its deprecation date), or until they are FLEET_CACHE_MAX_AGE_SECONDS old, whichever
comes first. A commit in this process drops the entry here at once, and with Redis bumps the
organization's generation there, which every replica's next rate-limit call compares with the
generation its entry was loaded under (see ratelimit.Guard); a change committed by any other
process (a job, `app.cli`) reaches every replica within a second through the database (see
fleet.feed). So a revoked key, a new subscription or added credits take effect on the very next
request on every replica, and within a second whoever made them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
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
from app.fleet.credit import balance_micros
from app.observability import metrics

logger = logging.getLogger(__name__)

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
    # the credit admission may hold against: balance at load + what was billed before (fleet.credit)
    credit_floor: int = 0
    loaded_at: float = 0.0  # time.monotonic()


@dataclass(frozen=True, slots=True)
class LoadedPlans:
    """What the plan loader read: each model's plan, and the balance (nanos) when one is PayGo."""

    plans: dict[str, ModelPlan]
    balance_nanos: int = 0


PlanLoader = Callable[[AsyncSession, Organization], Awaitable[LoadedPlans]]


class Directory:
    """The process's cache of keys and organizations, kept exact by versions, generations and a max age."""

    def __init__(
        self,
        open_session: Callable[[], AsyncSession],
        load_plans: PlanLoader,
        redis: Any = None,
        *,
        billed: Callable[[str], Awaitable[int]],
        max_age_seconds: float = 60.0,
    ) -> None:
        self._open_session = open_session
        self._load_plans = load_plans
        self._redis = redis
        self._billed = billed
        self.max_age_seconds = max_age_seconds
        self._keys: OrderedDict[str, tuple[KeyEntry | None, float]] = OrderedDict()
        self._keys_of_org: dict[str, set[str]] = {}
        self._orgs: dict[str, OrgState] = {}
        # how often each organization was forgotten: a load that saw it move may be stale, not kept
        self._forgotten: dict[str, int] = {}
        self._epoch = 0  # bumped by forget_all: every load in flight is stale
        self._key_epoch = 0  # bumped by every forget: a key's organization is unknown before its load

    @staticmethod
    def generation_key(organization_id: str) -> str:
        """The organization's generation in Redis (its id as the Redis Cluster hash tag)."""
        return f"gen:{{{organization_id}}}"

    async def key(self, secret: str) -> KeyEntry | None:
        """The key's entry (None: unknown); loaded from the database on a miss."""
        digest = hash_secret(secret)
        cached = self._keys.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.max_age_seconds:
            metrics.cache_lookup("key", hit=True)
            self._keys.move_to_end(digest)
            return cached[0]
        metrics.cache_lookup("key", hit=False)
        epoch = self._key_epoch
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
        if epoch == self._key_epoch:
            self._remember(digest, entry)
        return entry

    def _remember(self, digest: str, entry: KeyEntry | None) -> None:
        self._keys[digest] = (entry, time.monotonic())
        self._keys.move_to_end(digest)
        if entry is not None:
            self._keys_of_org.setdefault(entry.organization_id, set()).add(digest)
        while len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)

    async def organization(self, organization_id: str) -> OrgState | None:
        state = self._orgs.get(organization_id)
        if (
            state is None
            or time.monotonic() - state.loaded_at >= self.max_age_seconds
            or (state.expires_at is not None and clock.now() >= state.expires_at)
        ):
            metrics.cache_lookup("organization", hit=False)
            state = await self._load(organization_id)
        else:
            metrics.cache_lookup("organization", hit=True)
        return state

    async def _load(self, organization_id: str) -> OrgState | None:
        # Read before the state: the generation, the billed counter and the forget count, so that a
        # change committed in between makes the entry stale (reloaded), never wrong for long.
        forgotten, epoch = self._forgotten.get(organization_id, 0), self._epoch
        generation = (
            int(await self._redis.get(self.generation_key(organization_id)) or 0) if self._redis else 0
        )
        billed = await self._billed(organization_id)
        async with self._open_session() as session:
            organization = await session.get(Organization, organization_id)
            if organization is None:
                return None
            loaded = await self._load_plans(session, organization)
            plans = loaded.plans
            limits = await session.scalars(
                select(ProjectRateLimit)
                .join(Project, col(Project.id) == col(ProjectRateLimit.project_id))
                .where(col(Project.organization_id) == organization_id)
            )
            project_limits = {(row.project_id, row.model_id): row for row in limits}
        state = OrgState(
            organization_id, organization.name, organization.type, generation, plans, project_limits,
            expires_at=min((plan.until for plan in plans.values() if plan.until is not None), default=None),
            credit_floor=balance_micros(loaded.balance_nanos) + billed, loaded_at=time.monotonic(),
        )  # fmt: skip
        if self._forgotten.get(organization_id, 0) == forgotten and epoch == self._epoch:
            self._orgs[organization_id] = state  # else: used for this request only, reloaded on the next
        return state

    def sizes(self) -> dict[str, int]:
        """How many keys and organizations are held (metrics)."""
        return {"key": len(self._keys), "organization": len(self._orgs)}

    async def is_current(self, state: OrgState) -> bool:
        """Whether no commit changed the organization since the entry was loaded (always, without Redis)."""
        if self._redis is None:
            return True
        return int(await self._redis.get(self.generation_key(state.organization_id)) or 0) == state.generation

    def forget(self, organization_ids: Iterable[str]) -> None:
        """Drop what is known of these organizations (and their keys) from this process."""
        ids = list(organization_ids)
        metrics.cache_invalidated(len(ids))
        self._key_epoch += 1
        for organization_id in ids:
            self._forgotten[organization_id] = self._forgotten.get(organization_id, 0) + 1
            self._orgs.pop(organization_id, None)
            for digest in self._keys_of_org.pop(organization_id, ()):
                self._keys.pop(digest, None)

    def forget_all(self) -> None:
        """Drop everything (news may have been missed: the database's channel was down)."""
        self._epoch += 1
        self._key_epoch += 1
        self._orgs.clear()
        self._keys.clear()
        self._keys_of_org.clear()

    async def changed(self, organization_ids: frozenset[str]) -> None:
        """Commit hook: forget here, and tell the other replicas through the generation in Redis."""
        self.forget(organization_ids)
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for organization_id in organization_ids:
                        pipe.incr(self.generation_key(organization_id))
                    await pipe.execute()
            except Exception:  # noqa: BLE001  (committed: the replicas hear it through the database instead)
                logger.warning("could not bump generations in Redis", exc_info=True)

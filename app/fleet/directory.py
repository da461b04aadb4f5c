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

A replica does not wait for traffic to fill it: at start (and after news may have been missed) it
loads every usable key and its organization's state in a few large reads, in the background, while
it already serves; misses meanwhile are loaded together, every organization (or key) asked for
while the previous read ran in one read (fleet.batching). An organization whose entry is dropped
because it changed is read again at once in the background, alone; the dropped entry is never
served again, so exactness is as before, and the next request usually finds the new entry ready.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.api_keys.models import ApiKey
from app.domain.base import hash_secret
from app.domain.catalog.models import RateLimits
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.projects.models import Project, ProjectRateLimit
from app.fleet.batching import Batcher
from app.fleet.credit import balance_micros
from app.observability import metrics

logger = logging.getLogger(__name__)

MAX_KEYS = 200_000
MISS_BATCH = 500  # keys or organizations per read on a miss
WARM_BATCH = 2000  # organizations per read of the start's warm-up


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


class OrganizationRow(NamedTuple):
    """What the directory reads of an organization (no ORM object: a warm-up reads them by the thousand)."""

    id: str
    name: str
    type: OrganizationType


PlanLoader = Callable[[AsyncSession, Sequence[OrganizationRow]], Awaitable[dict[str, LoadedPlans]]]
"""Each organization's plans (by organization id), read together in the caller's session."""

_KEY_COLUMNS = (
    col(ApiKey.secret_hash),
    col(ApiKey.id),
    col(ApiKey.project_id),
    col(Project.organization_id),
    col(ApiKey.revoked_at),
    col(Project.archived_at),
)


class Directory:
    """The process's cache of keys and organizations, kept exact by versions, generations and a max age."""

    def __init__(
        self,
        open_session: Callable[[], AsyncSession],
        load_plans: PlanLoader,
        redis: Any = None,
        *,
        billed: Callable[[list[str]], Awaitable[list[int]]],
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
        self._key_loads = Batcher(self._load_keys, name="API keys", max_batch=MISS_BATCH)
        self._org_loads = Batcher(self._load_organizations, name="organizations", max_batch=MISS_BATCH)
        self._warming: asyncio.Task[None] | None = None
        self._started = False
        self._gc_pauses = 0  # warm-ups running (see _warm)
        self._gc_was_enabled = True
        self.warmed_at: float | None = None  # time.monotonic() when the last warm-up ended

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
        return await self._key_loads.get(digest)

    async def _load_keys(self, digests: list[str]) -> dict[str, KeyEntry | None]:
        epoch = self._key_epoch
        async with self._open_session() as session:
            rows = (
                await session.execute(
                    select(*_KEY_COLUMNS)
                    .join(Project, col(Project.id) == col(ApiKey.project_id))
                    .where(col(ApiKey.secret_hash).in_(digests))
                )
            ).all()
        found: dict[str, KeyEntry | None] = dict.fromkeys(digests)
        for row in rows:
            found[row[0]] = KeyEntry(row[1], row[2], row[3], row[4] is None and row[5] is None)
        if epoch == self._key_epoch:  # else: used for these requests only, read again on the next
            for digest, entry in found.items():
                self._remember(digest, entry)
        return found

    def _remember(self, digest: str, entry: KeyEntry | None, at: float | None = None) -> None:
        self._keys[digest] = (entry, time.monotonic() if at is None else at)
        self._keys.move_to_end(digest)
        if entry is not None:
            self._keys_of_org.setdefault(entry.organization_id, set()).add(digest)
        while len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)

    async def organization(self, organization_id: str) -> OrgState | None:
        state = self._cached(organization_id)
        metrics.cache_lookup("organization", hit=state is not None)
        return state if state is not None else await self._org_loads.get(organization_id)

    async def organizations(self, organization_ids: Iterable[str]) -> dict[str, OrgState]:
        """The states of these organizations (the unknown ones left out): the misses are loaded together."""
        states: dict[str, OrgState] = {}
        misses = []
        for organization_id in set(organization_ids):
            state = self._cached(organization_id)
            metrics.cache_lookup("organization", hit=state is not None)
            if state is None:
                misses.append(organization_id)
            else:
                states[organization_id] = state
        # asked in the same turn of the event loop: one batched read (or a few of MISS_BATCH)
        for organization_id, loaded in zip(
            misses, await asyncio.gather(*map(self._org_loads.get, misses)), strict=True
        ):
            if loaded is not None:
                states[organization_id] = loaded
        return states

    def _cached(self, organization_id: str) -> OrgState | None:
        """The organization's entry if it may be used now: present, young enough, no plan ended since."""
        state = self._orgs.get(organization_id)
        if (
            state is None
            or time.monotonic() - state.loaded_at >= self.max_age_seconds
            or (state.expires_at is not None and clock.now() >= state.expires_at)
        ):
            return None
        return state

    async def _load_organizations(
        self, organization_ids: list[str], *, spread: bool = False
    ) -> dict[str, OrgState]:
        """Read the organizations' states together; each is kept unless it changed meanwhile.

        `spread`: entries read together are aged at random by up to half the max age, so that they do
        not all expire in the same second (a warm-up would otherwise turn cold again all at once).
        """
        # Read before the states: the generations, the billed counters and the forget counts, so that
        # a change committed in between makes an entry stale (reloaded), never wrong for long.
        forgotten, epoch = {o: self._forgotten.get(o, 0) for o in organization_ids}, self._epoch
        generations = await self._generations(organization_ids)
        billed = dict(zip(organization_ids, await self._billed(organization_ids), strict=True))
        async with self._open_session() as session:
            organizations = [
                OrganizationRow(*row)
                for row in await session.execute(
                    select(col(Organization.id), col(Organization.name), col(Organization.type)).where(
                        col(Organization.id).in_(organization_ids)
                    )
                )
            ]
            loaded = await self._load_plans(session, organizations) if organizations else {}
            project_limits: dict[str, dict[tuple[str, str], ProjectRateLimit]] = {}
            if organizations:
                rows = await session.execute(
                    select(ProjectRateLimit, col(Project.organization_id))
                    .join(Project, col(Project.id) == col(ProjectRateLimit.project_id))
                    .where(col(Project.organization_id).in_(organization_ids))
                )
                for row, organization_id in rows:
                    project_limits.setdefault(organization_id, {})[(row.project_id, row.model_id)] = row
        now = time.monotonic()
        states = {}
        for organization in organizations:
            organization_id = organization.id
            plans = loaded[organization_id].plans
            state = states[organization_id] = OrgState(
                organization_id, organization.name, organization.type, generations[organization_id], plans,
                project_limits.get(organization_id, {}),
                expires_at=min((plan.until for plan in plans.values() if plan.until is not None), default=None),
                credit_floor=balance_micros(loaded[organization_id].balance_nanos) + billed[organization_id],
                loaded_at=now - random.uniform(0, self.max_age_seconds / 2) if spread else now,
            )  # fmt: skip
            if self._forgotten.get(organization_id, 0) == forgotten[organization_id] and epoch == self._epoch:
                self._orgs[organization_id] = (
                    state  # else: used for these requests only, reloaded on the next
                )
        return states

    async def _generations(self, organization_ids: list[str]) -> dict[str, int]:
        if self._redis is None:
            return dict.fromkeys(organization_ids, 0)
        async with self._redis.pipeline(transaction=False) as pipe:
            for organization_id in organization_ids:
                pipe.get(self.generation_key(organization_id))
            values = await pipe.execute()
        return {o: int(value or 0) for o, value in zip(organization_ids, values, strict=True)}

    def start(self) -> None:
        """Warm up in the background: every usable key and its organization's state."""
        self._started = True
        if self._warming is not None:
            self._warming.cancel()
        self._warming = asyncio.create_task(self._warm(), name="directory warm-up")

    async def stop(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        self._started = False
        await self._key_loads.stop()
        await self._org_loads.stop()

    async def _warm(self) -> None:
        started = time.monotonic()
        # A warm-up makes some ten objects per key and organization, all long-lived: the cyclic
        # collector walking them again and again costs a third of the warm-up. It is paused meanwhile,
        # and what the warm-up made is frozen out of its reach after (as start-up does: asgi.py), cyclic
        # garbage of requests served meanwhile included (a few seconds' worth, once per warm-up).
        if self._gc_pauses == 0:  # a warm-up cancelled for a new one may not have ended yet
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
        self._gc_pauses += 1
        try:
            forgotten, epoch = dict(self._forgotten), self._epoch
            async with self._open_session() as session:
                rows = (
                    await session.execute(
                        select(*_KEY_COLUMNS)
                        .join(Project, col(Project.id) == col(ApiKey.project_id))
                        .where(col(ApiKey.revoked_at).is_(None), col(Project.archived_at).is_(None))
                        .limit(MAX_KEYS)
                    )
                ).all()
            organization_ids: dict[str, None] = {}  # in the order of their keys, once each
            for digest, key_id, project_id, organization_id, _, _ in rows:
                organization_ids[organization_id] = None
                if (
                    digest not in self._keys
                    and epoch == self._epoch
                    and (self._forgotten.get(organization_id, 0) == forgotten.get(organization_id, 0))
                ):  # a key read before its organization changed may be stale: read on its first use
                    at = time.monotonic() - random.uniform(
                        0, self.max_age_seconds / 2
                    )  # see _load_organizations
                    self._remember(digest, KeyEntry(key_id, project_id, organization_id, True), at)
            wanted = list(organization_ids)
            for start in range(0, len(wanted), WARM_BATCH):
                missing = [o for o in wanted[start : start + WARM_BATCH] if o not in self._orgs]
                if missing:
                    await self._load_organizations(missing, spread=True)
            self.warmed_at = time.monotonic()
            logger.info(
                "directory warmed: %d keys, %d organizations in %.1f s",
                len(rows), len(wanted), self.warmed_at - started,
            )  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (the cache fills on use instead)
            logger.warning("warming the directory failed; entries load on first use", exc_info=True)
        finally:
            self._gc_pauses -= 1
            if self._gc_pauses == 0 and self._gc_was_enabled:
                gc.freeze()
                gc.enable()

    def sizes(self) -> dict[str, int]:
        """How many keys and organizations are held (metrics)."""
        return {"key": len(self._keys), "organization": len(self._orgs)}

    async def is_current(self, state: OrgState) -> bool:
        """Whether no commit changed the organization since the entry was loaded (always, without Redis)."""
        if self._redis is None:
            return True
        return int(await self._redis.get(self.generation_key(state.organization_id)) or 0) == state.generation

    def forget(self, organization_ids: Iterable[str]) -> None:
        """Drop what is known of these organizations (and their keys), and read them again in the background."""
        self._reload(*self._drop(organization_ids))

    def _drop(self, organization_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Drop the organizations' entries; returns the ones that were held, and their keys."""
        ids = list(organization_ids)
        metrics.cache_invalidated(len(ids))
        self._key_epoch += 1
        # loads in flight are neither joined nor kept any more: read again what they were reading
        digests = self._key_loads.drop()  # a key's organization is unknown before its load: every one
        held = self._org_loads.drop(ids)
        for organization_id in ids:
            self._forgotten[organization_id] = self._forgotten.get(organization_id, 0) + 1
            if self._orgs.pop(organization_id, None) is not None and organization_id not in held:
                held.append(organization_id)
            for digest in self._keys_of_org.pop(organization_id, ()):
                if self._keys.pop(digest, None) is not None:
                    digests.append(digest)
        return held, digests

    def _reload(self, organization_ids: list[str], digests: list[str]) -> None:
        """Read dropped entries again in the background (what was in use is likely to be used again)."""
        self._org_loads.prefetch(organization_ids)
        self._key_loads.prefetch(digests)

    def forget_all(self) -> None:
        """Drop everything (news may have been missed: the database's channel was down), then warm up again."""
        self._epoch += 1
        self._key_epoch += 1
        self._key_loads.drop()
        self._org_loads.drop()
        self._orgs.clear()
        self._keys.clear()
        self._keys_of_org.clear()
        if self._started:
            self.start()

    async def changed(self, organization_ids: frozenset[str]) -> None:
        """Commit hook: forget here, and tell the other replicas through the generation in Redis."""
        dropped = self._drop(organization_ids)
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for organization_id in organization_ids:
                        pipe.incr(self.generation_key(organization_id))
                    await pipe.execute()
            except Exception:  # noqa: BLE001  (committed: the replicas hear it through the database instead)
                logger.warning("could not bump generations in Redis", exc_info=True)
        self._reload(*dropped)  # after the bump: the entries read again carry the new generation

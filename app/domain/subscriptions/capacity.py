"""Places in a tier: taken by a conditional UPDATE, so the last place goes to exactly one organization.

`UPDATE tier_capacity SET taken = taken + 1 WHERE … AND taken < capacity` is atomic on both databases:
PostgreSQL re-checks the condition on the row a concurrent winner committed, SQLite runs one write
transaction at a time. A place is released when the charge for it fails or the subscription ends.
Staff may set a tier's capacity below the places taken: nobody loses theirs, new ones are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.actor import Actor
from app.domain.catalog.models import Catalog, SubscriptionTier
from app.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from app.domain.rowsets import dialect_insert, is_sqlite
from app.domain.subscriptions.models import TierCapacity

MAX_CAPACITY = 1_000_000


@dataclass(frozen=True, slots=True)
class TierAvailability:
    """A tier's capacity (staff's, else the catalog's) and the places taken in it."""

    capacity: int
    taken: int

    @property
    def left(self) -> int:
        return max(0, self.capacity - self.taken)

    @property
    def sold_out(self) -> bool:
        """Temporarily Sold Out: no place left until one frees up."""
        return self.left == 0


async def reserve(session: AsyncSession, model_id: str, tier: SubscriptionTier) -> None:
    """Take one place in the tier, or SOLD_OUT."""
    await _ensure_row(session, model_id, tier.id)
    taken = await session.execute(
        update(TierCapacity)
        .where(col(TierCapacity.model_id) == model_id)
        .where(col(TierCapacity.tier_id) == tier.id)
        .where(col(TierCapacity.taken) < func.coalesce(col(TierCapacity.capacity), tier.capacity))
        .values(taken=col(TierCapacity.taken) + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"The {tier.display_name} tier of {model_id} is Temporarily Sold Out; try another tier or later.",
            code=ErrorCode.SOLD_OUT,
            field="tier",
        )


async def release(session: AsyncSession, model_id: str, tier_id: str) -> None:
    """Give one place in the tier back."""
    await session.execute(
        update(TierCapacity)
        .where(col(TierCapacity.model_id) == model_id)
        .where(col(TierCapacity.tier_id) == tier_id)
        .where(col(TierCapacity.taken) > 0)
        .values(taken=col(TierCapacity.taken) - 1)
    )


async def availability(session: AsyncSession, catalog: Catalog) -> dict[tuple[str, str], TierAvailability]:
    """Every tier's availability, by (model id, tier id), in one query."""
    rows = {(row.model_id, row.tier_id): row for row in await session.scalars(select(TierCapacity))}
    result = {}
    for model in catalog.models:
        for tier in model.tiers:
            row = rows.get((model.id, tier.id))
            capacity = row.capacity if row is not None and row.capacity is not None else tier.capacity
            result[(model.id, tier.id)] = TierAvailability(capacity, row.taken if row is not None else 0)
    return result


async def set_capacity(
    session: AsyncSession,
    actor: Actor,
    *,
    catalog: Catalog,
    model_id: str,
    tier_id: str,
    capacity: int | None,
) -> TierCapacity:
    """Staff: set how many organizations a tier holds (None: back to the catalog's figure)."""
    if not actor.is_staff:
        raise Forbidden("Only platform staff may set a tier's capacity.")
    if catalog.model(model_id) is None:
        raise NotFound(f"No model '{model_id}' in the catalog.", code=ErrorCode.UNKNOWN_MODEL, field="model")
    if catalog.tier(model_id, tier_id) is None:
        raise NotFound(f"{model_id} has no tier '{tier_id}'.", code=ErrorCode.UNKNOWN_TIER, field="tier")
    if capacity is not None and not 0 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"The capacity must be between 0 and {MAX_CAPACITY:,}.", field="capacity")
    await _ensure_row(session, model_id, tier_id)
    row = await session.get(TierCapacity, (model_id, tier_id), with_for_update=True)
    assert row is not None
    row.capacity, row.capacity_set_by, row.capacity_set_at = capacity, actor.user_id, clock.now()
    session.add(row)
    await session.flush()
    return row


async def _ensure_row(session: AsyncSession, model_id: str, tier_id: str) -> None:
    # created on first use; concurrent creators both succeed, one of them inserting nothing
    await session.execute(
        dialect_insert(is_sqlite(session), TierCapacity)
        .values(model_id=model_id, tier_id=tier_id, taken=0)
        .on_conflict_do_nothing(index_elements=["model_id", "tier_id"])
    )

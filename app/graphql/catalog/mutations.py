"""Platform staff setting a tier's capacity."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.subscriptions import capacity
from app.graphql.catalog.types import SubscriptionTier
from app.graphql.context import Info
from app.graphql.errors import INPUT, mutation, result_union


@strawberry.input(description="Staff only: how many organizations a tier can hold.")
class SetTierCapacityInput:
    model: str = strawberry.field(description="The model's catalog id.")
    tier: str = strawberry.field(description="The tier's id.")
    capacity: int | None = strawberry.field(
        description="The new capacity (0 stops new subscriptions); null goes back to the catalog's figure. "
        "Below the places taken, nobody loses theirs: new subscriptions are refused."
    )


@strawberry.type(description="The tier as it is now.")
class TierPayload:
    tier: SubscriptionTier = strawberry.field(description="The tier, with its capacity and places left.")


SetTierCapacityResult = result_union("SetTierCapacityResult", TierPayload)


@strawberry.type
class CatalogMutations:
    @mutation("Set a tier's capacity (platform staff only).")
    async def set_tier_capacity(
        self, info: Info, input: Annotated[SetTierCapacityInput, INPUT]
    ) -> SetTierCapacityResult:
        actor = info.context.actor()
        catalog = info.context.services.catalog
        async with info.context.transaction() as session:
            await capacity.set_capacity(
                session,
                actor,
                catalog=catalog,
                model_id=input.model,
                tier_id=input.tier,
                capacity=input.capacity,
            )
        availability = await capacity.availability(await info.context.session(), catalog)
        tier = catalog.tier(input.model, input.tier)
        assert tier is not None
        return TierPayload(tier=SubscriptionTier.of(input.model, tier, availability))

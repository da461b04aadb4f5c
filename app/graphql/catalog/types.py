"""The model catalog: models, prices, rate limits and subscription tiers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from app import clock
from app.domain.catalog.models import Catalog as CatalogData
from app.domain.catalog.models import CatalogModel
from app.domain.catalog.models import RateLimits as RateLimitsData
from app.domain.catalog.models import SubscriptionTier as TierData
from app.domain.subscriptions.capacity import TierAvailability
from app.graphql.errors import UnauthenticatedError
from app.graphql.money import Money

TOKENS_PER_LISTED_PRICE = 1_000_000
Availability = dict[tuple[str, str], TierAvailability]


@strawberry.type(
    description="Rate limits per minute, hour and day; a null window has no limit. Whichever is reached first refuses."
)
class RateLimits:
    requests_per_minute: int | None = strawberry.field(description="Requests per minute (RPM).")
    tokens_per_minute: int | None = strawberry.field(description="Tokens per minute (TPM).")
    requests_per_hour: int | None = strawberry.field(description="Requests per hour (RPH).")
    tokens_per_hour: int | None = strawberry.field(description="Tokens per hour (TPH).")
    requests_per_day: int | None = strawberry.field(description="Requests per day (RPD).")
    tokens_per_day: int | None = strawberry.field(description="Tokens per day (TPD).")

    @classmethod
    def of(cls, limits: RateLimitsData) -> RateLimits:
        return cls(
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
            requests_per_hour=limits.requests_per_hour,
            tokens_per_hour=limits.tokens_per_hour,
            requests_per_day=limits.requests_per_day,
            tokens_per_day=limits.tokens_per_day,
        )


@strawberry.type(
    description="A monthly subscription tier of a model, with its own (lower than PayGo) limits."
)
class SubscriptionTier:
    tier_id: str = strawberry.field(description="The tier's id within its model, e.g. `starter`.")
    model_id: str = strawberry.field(description="The model's catalog id.")
    display_name: str = strawberry.field(description="The tier's name as the console shows it.")
    monthly_price: Money = strawberry.field(description="The price of a month.")
    limits: RateLimits = strawberry.field(description="The tier's rate limits, for the whole organization.")
    capacity: int = strawberry.field(description="How many organizations the tier can hold.")
    capacity_left: int = strawberry.field(description="How many more organizations can subscribe to it now.")
    sold_out: bool = strawberry.field(
        description="Temporarily Sold Out: no place left; it can be bought again when one frees up."
    )

    @classmethod
    def of(cls, model_id: str, tier: TierData, availability: Availability) -> SubscriptionTier:
        places = availability.get((model_id, tier.id), TierAvailability(tier.capacity, 0))
        return cls(
            tier_id=tier.id,
            model_id=model_id,
            display_name=tier.display_name,
            monthly_price=Money.from_nanos(tier.monthly_price),
            limits=RateLimits.of(tier.limits),
            capacity=places.capacity,
            capacity_left=places.left,
            sold_out=places.sold_out,
        )


@strawberry.type(
    description="A model of the catalog: prices per million tokens, limits and subscription tiers."
)
class Model:
    model_id: str = strawberry.field(description="The model's catalog id, as API requests name it.")
    display_name: str = strawberry.field(description="The model's name as the console shows it.")
    input_price_per_million: Money = strawberry.field(description="PayGo price of one million input tokens.")
    output_price_per_million: Money = strawberry.field(
        description="PayGo price of one million output tokens."
    )
    paygo_limits: RateLimits = strawberry.field(
        description="An organization's limits when it pays with credits."
    )
    free_tier_limits: RateLimits = strawberry.field(description="A Personal organization's free limits.")
    is_deprecated: bool = strawberry.field(
        description="Whether its deprecation date has come: it can no longer be used or subscribed to."
    )
    deprecation_date: date | None = strawberry.field(
        description="From 00:00 UTC on this day it can no longer be used or subscribed to; null: none planned."
    )
    tiers: list[SubscriptionTier] = strawberry.field(description="Its subscription tiers, cheapest first.")

    @classmethod
    def of(cls, model: CatalogModel, availability: Availability) -> Model:
        return cls(
            model_id=model.id,
            display_name=model.display_name,
            input_price_per_million=Money.from_nanos(model.input_price_per_token * TOKENS_PER_LISTED_PRICE),
            output_price_per_million=Money.from_nanos(model.output_price_per_token * TOKENS_PER_LISTED_PRICE),
            paygo_limits=RateLimits.of(model.paygo_limits),
            free_tier_limits=RateLimits.of(model.free_tier_limits),
            is_deprecated=model.is_deprecated(clock.now()),
            deprecation_date=model.deprecation_date,
            tiers=[
                SubscriptionTier.of(model.id, tier, availability)
                for tier in sorted(model.tiers, key=lambda t: t.monthly_price)
            ],
        )


@strawberry.type(description="Every model on offer, in catalog order.")
class Catalog:
    models: list[Model] = strawberry.field(description="The models, deprecated ones included (and marked).")


CatalogResult = Annotated[
    Catalog | UnauthenticatedError,
    strawberry.union(
        "CatalogResult", description="The catalog, or UNAUTHENTICATED without a signed-in user."
    ),
]


def catalog_view(catalog: CatalogData, availability: Availability) -> Catalog:
    return Catalog(models=[Model.of(model, availability) for model in catalog.models])

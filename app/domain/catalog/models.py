"""The model catalog as immutable values: models, their prices, rate limits and subscription tiers.

All money is integer nano-dollars (1e-9 USD): prices per token and monthly tier prices alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Request and token ceilings per minute, hour and day; None means no limit at that window."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    requests_per_hour: int | None = None
    tokens_per_hour: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None

    def exceeding(self, ceiling: RateLimits) -> tuple[str, ...]:
        """Names of the windows where these limits allow more than `ceiling` does."""
        over = []
        for window in fields(self):
            mine, cap = getattr(self, window.name), getattr(ceiling, window.name)
            # No limit here where the ceiling has one is the loosest limit of all.
            if cap is not None and (mine is None or mine > cap):
                over.append(window.name)
        return tuple(over)

    def is_within(self, ceiling: RateLimits) -> bool:
        """True when no window allows more than `ceiling` does."""
        return not self.exceeding(ceiling)


@dataclass(frozen=True, slots=True)
class SubscriptionTier:
    """A monthly plan for one model: its price, its own limits and how many orgs it can hold."""

    id: str
    display_name: str
    monthly_price: int
    limits: RateLimits
    capacity: int


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A model customers can call: per-token prices, PayGo and free-tier limits, tiers, deprecation."""

    id: str
    display_name: str
    input_price_per_token: int
    output_price_per_token: int
    paygo_limits: RateLimits
    free_tier_limits: RateLimits
    deprecation_date: date | None = None
    tiers: tuple[SubscriptionTier, ...] = ()
    # the most tokens (input plus output) one request can hold; a usage report over it is refused
    context_tokens: int | None = None

    @property
    def deprecated_at(self) -> datetime | None:
        """The instant the model stops serving: 00:00 UTC on its deprecation date."""
        if self.deprecation_date is None:
            return None
        return datetime.combine(self.deprecation_date, time.min, tzinfo=UTC)

    def is_deprecated(self, at: datetime) -> bool:
        """True from 00:00 UTC of the deprecation date onward: then it can't be used or subscribed to."""
        if at.tzinfo is None:
            # A naive time would be silently read as local time and move the boundary.
            raise ValueError("is_deprecated needs a timezone-aware datetime")
        deprecated_at = self.deprecated_at
        return deprecated_at is not None and at >= deprecated_at

    def price_of(self, input_tokens: int, output_tokens: int) -> int:
        """The exact price in nano-dollars of a request's input and output tokens."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts must not be negative")
        return input_tokens * self.input_price_per_token + output_tokens * self.output_price_per_token

    def tier(self, tier_id: str) -> SubscriptionTier | None:
        """The subscription tier with this id, if the model offers it."""
        return next((tier for tier in self.tiers if tier.id == tier_id), None)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every model on offer, in catalog order, with lookup by id."""

    models: tuple[CatalogModel, ...]
    source: Path | None = None
    _by_id: dict[str, CatalogModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Admission looks models up on every request: a dict keeps that O(1).
        object.__setattr__(self, "_by_id", {model.id: model for model in self.models})

    def model(self, model_id: str) -> CatalogModel | None:
        """The model with this id, or None if the catalog has no such model."""
        return self._by_id.get(model_id)

    def tier(self, model_id: str, tier_id: str) -> SubscriptionTier | None:
        """The tier `tier_id` of model `model_id`, or None if either is unknown."""
        model = self._by_id.get(model_id)
        return model.tier(tier_id) if model is not None else None

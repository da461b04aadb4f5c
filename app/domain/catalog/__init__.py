"""The model catalog: models, per-token prices, rate limits and subscription tiers, read from data."""

from __future__ import annotations

from app.domain.catalog.errors import CatalogError
from app.domain.catalog.loader import DEFAULT_PATH, load_catalog
from app.domain.catalog.models import Catalog, CatalogModel, RateLimits, SubscriptionTier

__all__ = [
    "DEFAULT_PATH",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "RateLimits",
    "SubscriptionTier",
    "load_catalog",
]

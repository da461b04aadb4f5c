"""The model catalog as any signed-in user reads it."""

from __future__ import annotations

import strawberry

from app.domain.subscriptions import capacity
from app.graphql.catalog.types import CatalogResult, catalog_view
from app.graphql.context import Info
from app.graphql.errors import field_with_errors


@strawberry.type
class CatalogQueries:
    @field_with_errors("The model catalog with prices, limits and tiers (any signed-in user).")
    async def catalog(self, info: Info) -> CatalogResult:
        info.context.actor()
        catalog = info.context.services.catalog
        return catalog_view(catalog, await capacity.availability(await info.context.session(), catalog))

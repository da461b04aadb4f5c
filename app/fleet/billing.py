"""What the fleet asks of the billing domain: who pays for each model, and burning credits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.domain.catalog.models import Catalog
from app.domain.orgs.models import Organization, OrganizationType
from app.fleet.directory import ModelPlan, PlanLoader


def plan_loader(catalog: Catalog) -> PlanLoader:
    """Plans of every catalog model for one organization."""

    async def load(session: AsyncSession, organization: Organization) -> dict[str, ModelPlan]:
        now = clock.now()
        plans = {}
        for model in catalog.models:
            if model.is_deprecated(now):
                continue
            if organization.type is OrganizationType.PERSONAL:
                plans[model.id] = ModelPlan("free", model.free_tier_limits)
            else:
                plans[model.id] = ModelPlan("paygo", model.paygo_limits)
        return plans

    return load


async def burn(session: AsyncSession, organization_id: str, amount_nanos: int, reference: str) -> bool:
    """Burn PayGo usage from the organization's credits; True when auto-recharge should look at it."""
    return False

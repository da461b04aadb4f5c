"""What the fleet asks of the plans domain: who pays for each model, for many organizations at once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.domain.catalog.models import Catalog
from app.domain.plans.service import plans_of_many
from app.fleet.directory import LoadedPlans, ModelPlan, OrganizationRow, PlanLoader


def plan_loader(catalog: Catalog) -> PlanLoader:
    """Every catalog model's plan for each organization, from the one who-pays rule (one read each)."""

    async def load(session: AsyncSession, organizations: Sequence[OrganizationRow]) -> dict[str, LoadedPlans]:
        found = await plans_of_many(session, catalog, organizations=organizations, at=clock.now())
        return {
            organization_id: LoadedPlans(
                {
                    model_id: ModelPlan(plan.kind.value, plan.limits, plan.until)
                    for model_id, plan in o.plans.items()
                },
                o.balance_nanos or 0,
            )
            for organization_id, o in found.items()
        }

    return load

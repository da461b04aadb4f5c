"""What the fleet asks of the billing domain: who pays for each model, burning credits, recharging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import Database, organization_changed
from app.domain.catalog.models import Catalog
from app.domain.credits.auto_recharge import maybe_auto_recharge
from app.domain.credits.ledger import burn_credits
from app.domain.orgs.models import Organization
from app.domain.plans.service import plans_of
from app.fleet.directory import ModelPlan, PlanLoader
from app.payments.facade import Payments


def plan_loader(catalog: Catalog) -> PlanLoader:
    """Every catalog model's plan for one organization, from the one who-pays rule."""

    async def load(session: AsyncSession, organization: Organization) -> dict[str, ModelPlan]:
        plans = await plans_of(session, catalog, organization=organization, at=clock.now())
        return {
            model_id: ModelPlan(plan.kind.value, plan.limits, plan.until) for model_id, plan in plans.items()
        }

    return load


async def burn(session: AsyncSession, organization_id: str, amount_nanos: int, reference: str) -> bool:
    """Burn PayGo usage from the credits in the usage group's transaction; True: look at auto-recharge."""
    result = await burn_credits(session, organization_id, amount_nanos, reference)
    if result.balance_nanos <= 0 < result.balance_nanos + amount_nanos:
        # credit ran out: PayGo limits fall to zero, on every replica, from the next admission on
        organization_changed(session, organization_id)
    return result.auto_recharge_due


def recharger(db: Database, payments: Payments) -> Callable[[str], Awaitable[object]]:
    """Auto-recharge after a usage group committed (never inside it: the provider may take seconds)."""

    async def recharge(organization_id: str) -> object:
        return await maybe_auto_recharge(db, organization_id, payments=payments)

    return recharge

"""What the fleet asks of the billing domain: burning credits, recharging (who pays: fleet.plans)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.credits.auto_recharge import maybe_auto_recharge
from app.domain.credits.burns import burn_many
from app.payments.facade import Payments


async def burn(session: AsyncSession, costs: Mapping[str, int], reference: str) -> set[str]:
    """Burn a usage group's PayGo prices, per organization, in its transaction; returns those to recharge.

    One burn (and one ledger entry, with the group's reference) per organization, all of them
    set-based (credits.burns). A burn that leaves the balance at or below zero bumps the
    organization's version (its ledger entry says so, see fleet.versions): from then on every
    replica answers 402, whatever the order of events.
    """
    results = await burn_many(session, costs, reference)
    return {organization_id for organization_id, result in results.items() if result.auto_recharge_due}


def recharger(db: Database, payments: Payments) -> Callable[[str], Awaitable[object]]:
    """Auto-recharge after a usage group committed (never inside it: the provider may take seconds)."""

    async def recharge(organization_id: str) -> object:
        return await maybe_auto_recharge(db, organization_id, payments=payments)

    return recharge

"""What the fleet asks of the billing domain: burning credits, recharging (who pays: fleet.plans)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.credits.auto_recharge import maybe_auto_recharge
from app.domain.credits.ledger import burn_credits
from app.payments.facade import Payments


async def burn(session: AsyncSession, organization_id: str, amount_nanos: int, reference: str) -> bool:
    """Burn PayGo usage from the credits in the usage group's transaction; True: look at auto-recharge.

    A burn that leaves the balance at or below zero bumps the organization's version (its ledger
    entry says so, see fleet.versions): from then on every replica answers 402, whatever the order
    of events.
    """
    result = await burn_credits(session, organization_id, amount_nanos, reference)
    return result.auto_recharge_due


def recharger(db: Database, payments: Payments) -> Callable[[str], Awaitable[object]]:
    """Auto-recharge after a usage group committed (never inside it: the provider may take seconds)."""

    async def recharge(organization_id: str) -> object:
        return await maybe_auto_recharge(db, organization_id, payments=payments)

    return recharge

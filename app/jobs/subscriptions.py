"""Jobs of subscriptions: renewals and their retries, ends at the period end or at deprecation."""

from __future__ import annotations

from typing import Any

from app.domain.subscriptions.renewal import run_renewals
from app.jobs.base import job


@job(
    "renew-subscriptions",
    every_seconds=300,
    description="Renew subscriptions at their period end, retry past-due ones daily, end canceled and deprecated ones",
)
async def renew_subscriptions(db: Any, services: Any) -> str:
    outcomes = await run_renewals(
        db,
        payments=services.payments,
        catalog=services.catalog,
        retries=services.settings.subscription_renewal_retries,
    )
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing due"

"""Jobs of PayGo credits: expiry, month-end settlement and its retries, auto-recharge sweep, refunds, emails.

Each decides from the database what is due and claims it under the account's lock or with a
conditional UPDATE, so running a job twice, or on two replicas at once, does nothing twice.
"""

from __future__ import annotations

from typing import Any

from app.domain.credits import alerts, auto_recharge, expiry, refunds, settlement
from app.jobs.base import job


@job("credits-expire", every_seconds=300, description="Expire credit grants a year after purchase")
async def expire_credits(db: Any, services: Any) -> str:
    return f"{await expiry.expire_grants(db)} grant(s) expired"


@job(
    "credits-settle-month",
    every_seconds=3600,
    description="Charge usage beyond credits (negative balances) once the calendar month has ended",
)
async def settle_month(db: Any, services: Any) -> str:
    charged = await settlement.settle_debts(db, payments=services.payments, settings=services.settings)
    return f"{charged} settlement(s) charged"


@job("credits-retry-settlements", every_seconds=3600, description="Retry failed month-end settlements")
async def retry_settlements(db: Any, services: Any) -> str:
    charged = await settlement.settle_debts(
        db, payments=services.payments, settings=services.settings, retry=True
    )
    return f"{charged} settlement(s) retried"


@job(
    "credits-auto-recharge",
    every_seconds=60,
    description="Recharge accounts below their threshold that no burn handed over (after a crash, a pause)",
)
async def sweep_auto_recharge(db: Any, services: Any) -> str:
    made = await auto_recharge.recharge_due_accounts(
        db, payments=services.payments, settings=services.settings
    )
    return f"{made} auto-recharge(s) made"


@job("credits-retry-refunds", every_seconds=900, description="Ask the provider again for approved refunds")
async def retry_refunds(db: Any, services: Any) -> str:
    return f"{await refunds.retry_refunds(db, payments=services.payments)} refund(s) completed"


@job("credits-low-balance", every_seconds=900, description="Email Org Admins once when the balance runs low")
async def low_balance(db: Any, services: Any) -> str:
    return f"{await alerts.send_low_balance_alerts(db, settings=services.settings)} low-balance email(s)"


@job(
    "credits-expiry-notices",
    every_seconds=3600,
    description="Email Org Admins about credits expiring within 30, then 7, days",
)
async def expiry_notices(db: Any, services: Any) -> str:
    return f"{await alerts.send_expiry_notices(db)} grant(s) announced"

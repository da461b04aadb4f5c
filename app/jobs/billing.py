"""Jobs of the billing core."""

from __future__ import annotations

from typing import Any

from app.domain.billing.charges import retry_pending
from app.jobs.base import job


@job(
    "retry-pending-charges",
    every_seconds=60,
    description="Ask the provider again about charges whose outcome is unknown",
)
async def retry_pending_charges(db: Any, services: Any) -> str:
    settled = await retry_pending(db, payments=services.payments)
    return f"{settled} pending charge(s) settled"

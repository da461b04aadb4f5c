"""Jobs of the billing core."""

from __future__ import annotations

from typing import Any

from app.domain.billing.retries import retry_pending
from app.jobs.base import job


@job(
    "retry-pending-charges",
    every_seconds=60,
    description="Follow up open charges (no answer, processing, awaiting 3-D Secure), with back-off",
)
async def retry_pending_charges(db: Any, services: Any) -> str:
    settled = await retry_pending(db, payments=services.payments)
    return f"{settled} open charge(s) ended"

"""Jobs of billing notices: spend alerts and receipt emails."""

from __future__ import annotations

from typing import Any

from app.domain.notifications.spend_alerts import send_spend_alerts
from app.domain.receipts.service import email_receipts
from app.jobs.base import job


@job("spend-alerts", every_seconds=60, description="Email the spend alerts this month's spend has crossed")
async def spend_alerts(db: Any, services: Any) -> str:
    return f"{await send_spend_alerts(db)} spend alert(s) fired"


@job(
    "receipt-emails", every_seconds=30, description="Email new receipts to the recipients who chose receipts"
)
async def receipt_emails(db: Any, services: Any) -> str:
    return f"{await email_receipts(db, settings=services.settings)} receipt email(s) queued"

"""Emails to an organization's admins about its subscriptions, queued in the transaction that decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.notifications import admins
from app.domain.subscriptions.models import Subscription

SIGNATURE = "The Inference Cloud console: Billing > Subscriptions."


async def email_admins(session: AsyncSession, subscription: Subscription, subject: str, body: str) -> int:
    """Queue one email per Organization Admin about the subscription; returns how many."""
    return await admins.email_admins(
        session,
        subscription.organization_id,
        subject=subject,
        body=body,
        signature=SIGNATURE,
        about=[
            f"Subscription: {subscription.id}, model {subscription.model_id}, tier {subscription.tier_id}"
        ],
    )


def day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"

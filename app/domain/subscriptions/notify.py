"""Emails to an organization's billing recipients about its subscriptions, queued in the transaction that decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.notifications.models import Notice
from app.domain.notifications.recipients import email_notice
from app.domain.subscriptions.models import Subscription


async def email_admins(
    session: AsyncSession,
    subscription: Subscription,
    subject: str,
    body: str,
    *,
    notice: Notice = Notice.SUBSCRIPTION_CHANGES,
) -> int:
    """Queue one email per recipient of the notice about the subscription; returns how many."""
    return await email_notice(
        session,
        subscription.organization_id,
        subject=subject,
        body=body,
        console_path="Billing > Subscriptions",
        notice=notice,
        about=[
            f"Subscription: {subscription.id}, model {subscription.model_id}, tier {subscription.tier_id}"
        ],
    )


def day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"

"""Emails to an organization's admins about its subscriptions, queued in the transaction that decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.credits.notices import admin_emails
from app.domain.notifications.service import enqueue_email
from app.domain.orgs.models import Organization
from app.domain.subscriptions.models import Subscription

SIGNATURE = "\n-- \nThe Inference Cloud console: Billing > Subscriptions.\n"


async def email_admins(session: AsyncSession, subscription: Subscription, subject: str, body: str) -> int:
    """Queue one email per Organization Admin about the subscription; returns how many."""
    organization = await session.get(Organization, subscription.organization_id)
    name = organization.name if organization is not None else subscription.organization_id
    text = (
        f"Hello,\n\n{body}\n\n"
        f"Organization: {name} ({subscription.organization_id})\n"
        f"Subscription: {subscription.id}, model {subscription.model_id}, tier {subscription.tier_id}\n"
        f"{SIGNATURE}"
    )
    addresses = await admin_emails(session, subscription.organization_id)
    for address in addresses:
        await enqueue_email(session, to=address, subject=f"{name}: {subject}", body=text)
    return len(addresses)


def day(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"

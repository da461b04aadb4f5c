"""Emails to an organization's admins (billing, credits, subscriptions), queued in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.accounts.models import User
from app.domain.notifications.service import enqueue_email
from app.domain.orgs.models import Membership, Organization, OrganizationRole


async def admin_emails(session: AsyncSession, organization_id: str) -> list[str]:
    """The addresses of the organization's Organization Admins, oldest membership first."""
    rows = await session.scalars(
        select(col(User.email))
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.organization_id) == organization_id)
        .where(col(Membership.role) == OrganizationRole.ORGANIZATION_ADMIN)
        .order_by(col(Membership.created_at), col(User.email))
    )
    return list(rows)


async def email_admins(
    session: AsyncSession,
    organization_id: str,
    *,
    subject: str,
    body: str,
    signature: str,
    about: Iterable[str] = (),
) -> int:
    """Queue one email per Organization Admin; returns how many.

    The organization's name prefixes the subject; the body ends with the organization, the `about`
    lines (what the email is about, e.g. a subscription) and the signature naming the console's page.
    """
    organization = await session.get(Organization, organization_id)
    name = organization.name if organization is not None else organization_id
    facts = "".join(f"\n{line}" for line in about)
    text = f"Hello,\n\n{body}\n\nOrganization: {name} ({organization_id}){facts}\n-- \n{signature}\n"
    addresses = await admin_emails(session, organization_id)
    for address in addresses:
        await enqueue_email(session, to=address, subject=f"{name}: {subject}", body=text)
    return len(addresses)

"""Emails to an organization's admins about its credits, queued in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.accounts.models import User
from app.domain.money import format_amount
from app.domain.notifications.service import enqueue_email
from app.domain.orgs.models import Membership, Organization, OrganizationRole

SIGNATURE = "\n-- \nThe Inference Cloud console: Billing > Pay as you go.\n"


def dollars(nanos: int) -> str:
    """An amount as an email shows it, e.g. ``$12.50``."""
    text = format_amount(nanos)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


async def admin_emails(session: AsyncSession, organization_id: str) -> list[str]:
    """The addresses of the organization's Org Admins, oldest membership first."""
    rows = await session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)  # type: ignore[arg-type]
        .where(Membership.organization_id == organization_id)
        .where(Membership.role == OrganizationRole.ORGANIZATION_ADMIN)
        .order_by(Membership.created_at, User.email)
    )
    return list(rows)


async def email_admins(session: AsyncSession, organization_id: str, *, subject: str, body: str) -> int:
    """Queue one email per Org Admin; the organization's name prefixes the subject. Returns how many."""
    organization = await session.get(Organization, organization_id)
    name = organization.name if organization else organization_id
    addresses = await admin_emails(session, organization_id)
    for address in addresses:
        await enqueue_email(
            session,
            to=address,
            subject=f"{name}: {subject}",
            body=f"Hello,\n\n{body}\n\nOrganization: {name} ({organization_id}){SIGNATURE}",
        )
    return len(addresses)

"""Who hears of what: an organization's billing recipients per notice, and emailing them.

The Organization Admins get every notice unless they turned it off for themselves; billing contacts
(addresses that are not members) get the notices chosen for them. Security notices (a failed
auto-recharge, a dispute) reach every admin whatever they chose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.accounts.models import User
from app.domain.notifications.models import BillingContact, MemberNoticePreference, Notice
from app.domain.notifications.service import enqueue_email
from app.domain.orgs.models import Membership, Organization, OrganizationRole


async def admin_emails(session: AsyncSession, organization_id: str) -> list[tuple[str, str]]:
    """(user id, address) of the organization's Org Admins, oldest membership first."""
    rows = await session.execute(
        select(col(User.id), col(User.email))
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.organization_id) == organization_id)
        .where(col(Membership.role) == OrganizationRole.ORGANIZATION_ADMIN)
        .order_by(col(Membership.created_at), col(User.email))
    )
    return [(user_id, email) for user_id, email in rows]


async def recipients(
    session: AsyncSession, organization_id: str, notice: Notice | None, *, security: bool = False
) -> list[str]:
    """The addresses that get this notice (``None``: admins only, e.g. a dispute), each once."""
    muted = {
        pref.user_id: set(pref.muted)
        for pref in await session.scalars(
            select(MemberNoticePreference).where(
                col(MemberNoticePreference.organization_id) == organization_id
            )
        )
    }
    chosen = [
        email
        for user_id, email in await admin_emails(session, organization_id)
        if security or notice is None or notice.value not in muted.get(user_id, set())
    ]
    if notice is not None:
        contacts = await session.scalars(
            select(BillingContact)
            .where(col(BillingContact.organization_id) == organization_id)
            .order_by(col(BillingContact.created_at), col(BillingContact.email_normalized))
        )
        chosen += [c.email for c in contacts if notice.value in c.notices]
    return _unique(chosen)


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            kept.append(address)
    return kept


async def notify(
    session: AsyncSession,
    organization_id: str,
    *,
    notice: Notice | None,
    template: str,
    security: bool = False,
    **context: Any,
) -> int:
    """Queue the templated email to every recipient of the notice; returns how many were queued."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return 0
    addresses = await recipients(session, organization_id, notice, security=security)
    for address in addresses:
        await enqueue_email(session, to=address, template=template, organization=organization, **context)
    return len(addresses)


async def email_notice(
    session: AsyncSession,
    organization_id: str,
    *,
    subject: str,
    body: str,
    console_path: str,
    notice: Notice | None,
    security: bool = False,
    about: Iterable[str] = (),
) -> int:
    """Queue a notice written in code (its paragraphs split on blank lines) through the generic template.

    The organization's name prefixes the subject; ``about`` lines say what it is about (e.g. a
    subscription). Returns how many recipients it was queued to.
    """
    return await notify(
        session,
        organization_id,
        notice=notice,
        security=security,
        template="organization_notice",
        subject=subject,
        paragraphs=[*body.split("\n\n"), *about],
        console_path=console_path,
    )

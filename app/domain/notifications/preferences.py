"""Notification settings of an organization: billing contacts, each admin's notices, the low-balance level."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from app.domain.notifications.models import AlertSettings, BillingContact, MemberNoticePreference, Notice
from app.domain.orgs.access import require_org_admin
from app.domain.orgs.models import Membership
from app.domain.validation import normalize_email

MAX_CONTACTS = 10
CONTACT_NOT_FOUND = "No billing contact with this ID is visible to you."


@dataclass(frozen=True)
class NotificationSettings:
    """What the console's notification settings show to an Org Admin."""

    organization_id: str
    contacts: list[BillingContact]
    my_notices: list[Notice]
    low_balance_alert_nanos: int
    low_balance_alert_is_default: bool


async def notification_settings(
    session: AsyncSession, actor: Actor, organization_id: str, *, default_low_balance_nanos: int
) -> NotificationSettings:
    """The organization's settings as the asking Org Admin sees them."""
    await require_org_admin(session, actor, organization_id)
    contacts = await session.scalars(
        select(BillingContact)
        .where(col(BillingContact.organization_id) == organization_id)
        .order_by(col(BillingContact.created_at), col(BillingContact.email_normalized))
    )
    preference = await session.get(MemberNoticePreference, (organization_id, actor.user_id))
    muted = set(preference.muted) if preference else set()
    own = await session.get(AlertSettings, organization_id)
    level = own.low_balance_alert_nanos if own else None
    return NotificationSettings(
        organization_id=organization_id,
        contacts=list(contacts),
        my_notices=[n for n in Notice if n.value not in muted],
        low_balance_alert_nanos=default_low_balance_nanos if level is None else level,
        low_balance_alert_is_default=level is None,
    )


def _notices(notices: list[Notice]) -> list[str]:
    return [n.value for n in Notice if n in set(notices)]


async def add_billing_contact(
    session: AsyncSession, actor: Actor, organization_id: str, *, email: str, notices: list[Notice]
) -> BillingContact:
    """A non-member address that gets the chosen notices (Org Admins)."""
    await require_org_admin(session, actor, organization_id)
    normalized = normalize_email(email)
    member = await session.scalar(
        select(col(User.id))
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.organization_id) == organization_id)
        .where(col(User.email_normalized) == normalized)
    )
    if member is not None:
        raise Conflict(
            "This address belongs to a member: members choose their notices themselves.",
            code=ErrorCode.ALREADY_MEMBER,
            field="email",
        )
    existing = list(
        await session.scalars(
            select(col(BillingContact.email_normalized)).where(
                col(BillingContact.organization_id) == organization_id
            )
        )
    )
    if normalized in existing:
        raise Conflict(
            "This address is a billing contact already.", code=ErrorCode.DUPLICATE_ADDRESS, field="email"
        )
    if len(existing) >= MAX_CONTACTS:
        raise InvalidInput(f"An organization has at most {MAX_CONTACTS} billing contacts.", field="email")
    contact = BillingContact(
        organization_id=organization_id,
        email=email.strip(),
        email_normalized=normalized,
        notices=_notices(notices),
        added_by=actor.user_id,
    )
    session.add(contact)
    await session.flush()
    return contact


async def _contact(session: AsyncSession, actor: Actor, contact_id: str) -> BillingContact:
    contact = await session.get(BillingContact, contact_id, with_for_update=True)
    if contact is None:
        raise NotFound(CONTACT_NOT_FOUND, field="contactId")
    try:
        await require_org_admin(session, actor, contact.organization_id)
    except NotFound:
        raise NotFound(CONTACT_NOT_FOUND, field="contactId") from None
    return contact


async def update_billing_contact(
    session: AsyncSession, actor: Actor, contact_id: str, *, notices: list[Notice]
) -> BillingContact:
    """Change which notices a billing contact gets."""
    contact = await _contact(session, actor, contact_id)
    contact.notices = _notices(notices)
    return contact


async def remove_billing_contact(session: AsyncSession, actor: Actor, contact_id: str) -> BillingContact:
    """Stop sending notices to a billing contact."""
    contact = await _contact(session, actor, contact_id)
    await session.delete(contact)
    return contact


async def set_my_notices(
    session: AsyncSession, actor: Actor, organization_id: str, *, notices: list[Notice]
) -> list[Notice]:
    """Choose the notices the asking Org Admin gets (security notices reach them regardless)."""
    await require_org_admin(session, actor, organization_id)
    muted = [n.value for n in Notice if n not in set(notices)]
    preference = await session.get(
        MemberNoticePreference, (organization_id, actor.user_id), with_for_update=True
    )
    if preference is None:
        session.add(
            MemberNoticePreference(organization_id=organization_id, user_id=actor.user_id, muted=muted)
        )
    else:
        preference.muted, preference.updated_at = muted, clock.now()
    return [n for n in Notice if n in set(notices)]


async def set_low_balance_alert(
    session: AsyncSession, actor: Actor, organization_id: str, *, amount_nanos: int | None
) -> int | None:
    """Set the organization's low-balance level (None: back to the service's default)."""
    await require_org_admin(session, actor, organization_id)
    if amount_nanos is not None and amount_nanos < 0:
        raise InvalidInput("The low-balance level cannot be negative.", field="amount")
    own = await session.get(AlertSettings, organization_id, with_for_update=True)
    if own is None:
        session.add(AlertSettings(organization_id=organization_id, low_balance_alert_nanos=amount_nanos))
    else:
        own.low_balance_alert_nanos, own.updated_at = amount_nanos, clock.now()
    return amount_nanos

"""The invitation email: who invites, to which organization, and the link that answers it."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.accounts.models import User
from app.domain.invitations.models import Invitation
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.service import enqueue_email
from app.domain.orgs.models import Organization, OrganizationRole
from app.settings import Settings

ROLE_PHRASES = {
    OrganizationRole.ORGANIZATION_ADMIN: "an Organization Admin",
    OrganizationRole.MEMBER: "a member",
}


def accept_link(settings: Settings, token: str) -> str:
    """The console's accept page for a token."""
    return f"{settings.public_url.rstrip('/')}/invitations/accept?{urlencode({'token': token})}"


def inviter_label(inviter: User | None) -> str:
    if inviter is None:
        return "An Organization Admin"
    return f"{inviter.name} ({inviter.email})" if inviter.name else inviter.email


async def queue_invitation_email(
    session: AsyncSession,
    *,
    invitation: Invitation,
    organization: Organization,
    inviter: User | None,
    token: str,
    settings: Settings,
) -> OutboxMessage:
    """Queue the email with the invitation's current link, in the caller's transaction."""
    return await enqueue_email(
        session,
        to=invitation.email,
        template="invitation",
        secrets=[token],
        inviter_name=inviter.name if inviter else "",
        inviter_email=inviter.email if inviter else "An Organization Admin",
        organization_name=organization.name,
        role_phrase=ROLE_PHRASES[invitation.role],
        link=accept_link(settings, token),
        expires_at=invitation.expires_at,
        email=invitation.email,
    )

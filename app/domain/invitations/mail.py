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
    who = inviter_label(inviter)
    body = (
        f"Hello,\n\n"
        f'{who} invited you to join the organization "{organization.name}" '
        f"as {ROLE_PHRASES[invitation.role]}.\n\n"
        f"Accept or decline the invitation here:\n{accept_link(settings, token)}\n\n"
        f"The link works once and expires on {invitation.expires_at:%Y-%m-%d at %H:%M} UTC. "
        f"If you have no account yet, sign up with this email address ({invitation.email}) first, "
        f"then open the link again.\n\n"
        f"If you did not expect this invitation, you can ignore this email.\n"
    )
    return await enqueue_email(
        session,
        to=invitation.email,
        subject=f"{who} invited you to {organization.name}",
        body=body,
        secrets=[token],
    )

"""Reading invitations: who may, one invitation with its details, and the Invites list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.actor import Actor
from app.domain.errors import Conflict, ErrorCode, Forbidden, NotFound
from app.domain.invitations.models import Invitation, InvitationProject, InvitationState
from app.domain.notifications.models import OutboxMessage, OutboxState
from app.domain.orgs.access import ORG_ADMINS_ONLY, organization_role
from app.domain.orgs.models import Organization, OrganizationRole

LIST_WINDOW = timedelta(days=30)
INVITATION_NOT_FOUND = "No invitation with this ID is visible to you."

_CLOSED = {
    InvitationState.ACCEPTED: (ErrorCode.INVITATION_ACCEPTED, "This invitation has been accepted already."),
    InvitationState.REJECTED: (ErrorCode.INVITATION_DECLINED, "This invitation was declined."),
    InvitationState.REVOKED: (ErrorCode.INVITATION_REVOKED, "This invitation was revoked."),
    InvitationState.EXPIRED: (
        ErrorCode.INVITATION_EXPIRED,
        "This invitation has expired; an Organization Admin can resend it.",
    ),
}


@dataclass(frozen=True)
class InvitationDetails:
    """An invitation with its project roles and the state of the email carrying its current link."""

    invitation: Invitation
    projects: list[InvitationProject]
    email_state: OutboxState | None


def closed_error(state: InvitationState) -> Conflict:
    """The error for acting on an invitation that is no longer pending."""
    code, message = _CLOSED[state]
    return Conflict(message, code=code)


def invitation_list(org_id: str, states: Collection[InvitationState] | None = None) -> Select[Any]:
    """The Invites list: pending, and declined or expired in the last 30 days; newest first (caller checked).

    ``states`` keeps only invitations in those states as the product shows them (EXPIRED: PENDING past
    its expiry); None keeps every listed one.
    """
    now = clock.now()
    since = now - LIST_WINDOW
    pending, expires = col(Invitation.state) == InvitationState.PENDING, col(Invitation.expires_at)
    shown = {
        InvitationState.PENDING: and_(pending, expires > now),
        InvitationState.EXPIRED: and_(pending, expires <= now, expires > since),
        InvitationState.REJECTED: and_(
            col(Invitation.state) == InvitationState.REJECTED, col(Invitation.responded_at) > since
        ),
    }
    kept = [condition for state, condition in shown.items() if states is None or state in states]
    return (
        select(Invitation)
        .where(col(Invitation.organization_id) == org_id)
        .where(or_(*kept) if kept else false())
        .order_by(col(Invitation.sent_at).desc(), col(Invitation.id))
    )


async def get_invitation(session: AsyncSession, actor: Actor, invitation_id: str) -> InvitationDetails:
    """One invitation, for the Organization Admins of its organization."""
    invitation, _ = await admin_invitation(session, actor, invitation_id, lock=False)
    [details] = await load_details(session, [invitation])
    return details


async def admin_invitation(
    session: AsyncSession, actor: Actor, invitation_id: str, *, lock: bool = True
) -> tuple[Invitation, Organization]:
    """The invitation and its organization if the actor administers it; outsiders learn nothing."""
    invitation = await session.get(Invitation, invitation_id, with_for_update=lock)
    role = await organization_role(session, actor, invitation.organization_id) if invitation else None
    organization = (
        await session.get(Organization, invitation.organization_id) if invitation and role else None
    )
    if invitation is None or organization is None:
        raise NotFound(INVITATION_NOT_FOUND, field="invitationId")
    if role is not OrganizationRole.ORGANIZATION_ADMIN:
        raise Forbidden(ORG_ADMINS_ONLY)
    return invitation, organization


async def load_details(session: AsyncSession, invitations: list[Invitation]) -> list[InvitationDetails]:
    """Attach project roles and email states to invitations, in two queries whatever their number."""
    if not invitations:
        return []
    ids = [invitation.id for invitation in invitations]
    projects: dict[str, list[InvitationProject]] = defaultdict(list)
    for row in await session.scalars(
        select(InvitationProject)
        .where(col(InvitationProject.invitation_id).in_(ids))
        .order_by(col(InvitationProject.invitation_id), col(InvitationProject.project_id))
    ):
        projects[row.invitation_id].append(row)
    message_ids = [i.message_id for i in invitations if i.message_id]
    states: dict[str, OutboxState] = {}
    if message_ids:
        rows = await session.execute(
            select(col(OutboxMessage.id), col(OutboxMessage.state)).where(
                col(OutboxMessage.id).in_(message_ids)
            )
        )
        states = {message_id: state for message_id, state in rows}
    return [
        InvitationDetails(invitation, projects[invitation.id], states.get(invitation.message_id or ""))
        for invitation in invitations
    ]

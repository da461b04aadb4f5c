"""The invitee's side: preview the invitation behind a link, accept it or decline it.

The token is the capability: whoever holds the link may preview it. Answering it also needs a
signed-in user whose email is the invited address (compared case-insensitively), so a forwarded
or leaked link cannot make someone else a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.base import hash_secret
from app.domain.errors import Conflict, ErrorCode, Forbidden, NotFound
from app.domain.invitations.models import Invitation, InvitationProject, InvitationState
from app.domain.invitations.queries import closed_error
from app.domain.orgs.access import lock_organization
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.domain.orgs.service import require_team
from app.domain.projects.models import Project, ProjectMembership

UNKNOWN_LINK = "This invitation link is not valid; it may have been replaced by a newer email."
MAX_TOKEN_LENGTH = 128  # ours are 43 characters; longer input is not worth hashing


@dataclass(frozen=True)
class InvitationPreview:
    """What the accept page shows about an invitation; nothing else of the organization."""

    organization_name: str
    email: str  # the invited address: only the link's holder sees a preview, and the accept page pre-fills it
    inviter_name: str | None
    inviter_email: str | None
    role: OrganizationRole
    state: InvitationState
    expires_at: datetime


@dataclass(frozen=True)
class Accepted:
    organization: Organization
    role: OrganizationRole


async def preview_invitation(session: AsyncSession, token: str) -> InvitationPreview | None:
    """The invitation behind a link, or None for an unknown (or replaced) token."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    row = (
        await session.execute(
            select(Invitation, col(Organization.name), User)
            .join(Organization, col(Organization.id) == col(Invitation.organization_id))
            .outerjoin(User, col(User.id) == col(Invitation.invited_by))
            .where(col(Invitation.token_hash) == hash_secret(token))
        )
    ).first()
    if row is None:
        return None
    invitation, organization_name, inviter = row
    return _preview(invitation, organization_name, inviter)


async def accept_invitation(session: AsyncSession, actor: Actor, token: str) -> Accepted:
    """Make the signed-in invitee a member with the invited roles; a link works once."""
    invitation, user = await _answerable(session, actor, token)
    organization = await session.get(Organization, invitation.organization_id)
    assert organization is not None, "an invitation's organization is deleted with it"
    require_team(organization)
    await lock_organization(session, organization.id)
    if await session.get(Membership, (organization.id, user.id)):
        raise Conflict(
            "You are a member of this organization already.", code=ErrorCode.ALREADY_MEMBER, field="token"
        )
    grants = (
        await session.execute(
            select(InvitationProject)
            .join(Project, col(Project.id) == col(InvitationProject.project_id))
            .where(col(InvitationProject.invitation_id) == invitation.id)
            .where(col(Project.archived_at).is_(None))
        )
    ).scalars()
    memberships = [ProjectMembership(project_id=g.project_id, user_id=user.id, role=g.role) for g in grants]
    if invitation.role is OrganizationRole.MEMBER and not memberships:
        raise Conflict(
            "The projects of this invitation have been archived; ask an Organization Admin for a new one.",
            code=ErrorCode.PROJECT_ARCHIVED,
            field="token",
        )
    session.add(Membership(organization_id=organization.id, user_id=user.id, role=invitation.role))
    await session.flush()
    session.add_all(memberships)
    _answer(invitation, InvitationState.ACCEPTED, user)
    session.add(invitation)
    await session.flush()
    return Accepted(organization, invitation.role)


async def decline_invitation(session: AsyncSession, actor: Actor, token: str) -> InvitationPreview:
    """Decline the invitation: it shows as rejected in the organization's Invites list."""
    invitation, user = await _answerable(session, actor, token)
    _answer(invitation, InvitationState.REJECTED, user)
    session.add(invitation)
    await session.flush()
    preview = await preview_invitation(session, token)
    assert preview is not None
    return preview


async def _answerable(session: AsyncSession, actor: Actor, token: str) -> tuple[Invitation, User]:
    """The pending invitation behind the token, addressed to the signed-in user (row-locked)."""
    invitation = (
        await session.scalar(
            select(Invitation).where(col(Invitation.token_hash) == hash_secret(token)).with_for_update()
        )
        if len(token) <= MAX_TOKEN_LENGTH
        else None
    )
    if invitation is None:
        raise NotFound(UNKNOWN_LINK, field="token")
    state = invitation.state_at(clock.now())
    if state is not InvitationState.PENDING:
        error = closed_error(state)
        error.field = "token"
        raise error
    user = await session.get(User, actor.user_id)
    assert user is not None, "an authenticated actor is a stored user"
    if user.email_normalized != invitation.email_normalized:
        raise Forbidden(
            "This invitation was sent to another email address: sign in (or sign up) with that address.",
            code=ErrorCode.INVITATION_EMAIL_MISMATCH,
            field="token",
        )
    return invitation, user


def _answer(invitation: Invitation, state: InvitationState, user: User) -> None:
    invitation.state = state
    invitation.responded_at, invitation.responded_by = clock.now(), user.id


def _preview(invitation: Invitation, organization_name: str, inviter: User | None) -> InvitationPreview:
    return InvitationPreview(
        organization_name=organization_name,
        email=invitation.email,
        inviter_name=(inviter.name or None) if inviter else None,
        inviter_email=inviter.email if inviter else None,
        role=invitation.role,
        state=invitation.state_at(clock.now()),
        expires_at=invitation.expires_at,
    )

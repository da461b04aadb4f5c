"""The Organization Admin's side of invitations: invite, resend, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.base import hash_secret, new_secret
from app.domain.durations import in_words
from app.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound, Throttled
from app.domain.invitations.limits import invitation_budget
from app.domain.invitations.mail import queue_invitation_email
from app.domain.invitations.models import Invitation, InvitationProject, InvitationState
from app.domain.invitations.queries import InvitationDetails, admin_invitation, closed_error, load_details
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.service import cancel_email
from app.domain.orgs.access import PROJECT_NOT_FOUND, lock_organization, require_org_admin
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.domain.orgs.service import require_team
from app.domain.projects.models import Project, ProjectRole
from app.domain.validation import normalize_email
from app.settings import Settings

MAX_ADDRESSES = 50
MAX_RESENDS_PER_DAY = 3
RESEND_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class ProjectGrant:
    """A project role to give the invitee when they accept."""

    project_id: str
    role: ProjectRole


@dataclass(frozen=True)
class AddressInvited:
    email: str
    invitation: InvitationDetails


@dataclass(frozen=True)
class AddressRefused:
    """An address that got no invitation, and why; ALREADY_INVITED names the invitation to resend."""

    email: str
    code: ErrorCode
    message: str
    existing: InvitationDetails | None = None


AddressOutcome = AddressInvited | AddressRefused


async def invite_members(
    session: AsyncSession,
    actor: Actor,
    org_id: str,
    *,
    emails: Sequence[str],
    role: OrganizationRole,
    projects: Sequence[ProjectGrant],
    settings: Settings,
) -> list[AddressOutcome]:
    """Invite each address (one outcome per address, in order); good ones go out even when others fail."""
    organization = await require_org_admin(session, actor, org_id)
    require_team(organization)
    if not emails:
        raise InvalidInput("Give at least one email address.", code=ErrorCode.REQUIRED, field="emails")
    if len(emails) > MAX_ADDRESSES:
        raise InvalidInput(
            f"Invite at most {MAX_ADDRESSES} addresses at once.", code=ErrorCode.TOO_LONG, field="emails"
        )
    grants = await _checked_grants(session, org_id, role, projects)
    await lock_organization(session, org_id)  # two admins inviting the same address at once: one wins
    parsed = [(raw, _normalized(raw)) for raw in emails]
    candidates = {normalized for _, normalized in parsed if normalized}
    members = await _member_addresses(session, org_id, candidates)
    pending = await _pending_by_address(session, org_id, candidates, clock.now())
    inviter = await session.get(User, actor.user_id)
    budget = await invitation_budget(session, org_id, inviter, settings, clock.now())

    refused: dict[int, AddressRefused] = {}
    created: dict[int, Invitation] = {}
    already: dict[int, Invitation] = {}
    seen: set[str] = set()
    for index, (raw, normalized) in enumerate(parsed):
        if normalized is None:
            refused[index] = AddressRefused(
                raw, ErrorCode.INVALID_EMAIL, "This is not a valid email address."
            )
        elif normalized in seen:
            refused[index] = AddressRefused(
                raw, ErrorCode.DUPLICATE_ADDRESS, "This address appears earlier in the list."
            )
        elif normalized in members:
            refused[index] = AddressRefused(
                raw, ErrorCode.ALREADY_MEMBER, "This person is a member of the organization already."
            )
        elif normalized in pending:
            already[index] = pending[normalized]
        elif not budget.take():
            refused[index] = AddressRefused(raw, ErrorCode.TOO_MANY_ATTEMPTS, budget.reason)
        else:
            created[index] = await _new_invitation(
                session, organization, inviter, raw.strip(), normalized, role, settings
            )
        if normalized:
            seen.add(normalized)

    # batched inserts, parents first: the tables have no ORM relationships that would order them
    await session.flush()
    session.add_all(created.values())
    await session.flush()
    session.add_all(
        InvitationProject(invitation_id=i.id, project_id=g.project_id, role=g.role)
        for i in created.values()
        for g in grants
    )
    await session.flush()
    details = {
        d.invitation.id: d for d in await load_details(session, [*created.values(), *already.values()])
    }
    outcomes: list[AddressOutcome] = []
    for index, (raw, _) in enumerate(parsed):
        if index in created:
            outcomes.append(AddressInvited(raw, details[created[index].id]))
        elif index in already:
            outcomes.append(
                AddressRefused(
                    raw,
                    ErrorCode.ALREADY_INVITED,
                    "A pending invitation for this address exists; resend it instead.",
                    existing=details[already[index].id],
                )
            )
        else:
            outcomes.append(refused[index])
    return outcomes


async def resend_invitation(
    session: AsyncSession, actor: Actor, invitation_id: str, *, settings: Settings
) -> InvitationDetails:
    """A new link and a new expiry for a pending or expired invitation; the old link stops working."""
    invitation, organization = await admin_invitation(session, actor, invitation_id)
    now = clock.now()
    state = invitation.state_at(now)
    if state not in (InvitationState.PENDING, InvitationState.EXPIRED):
        raise closed_error(state)
    if await _member_addresses(session, organization.id, {invitation.email_normalized}):
        raise Conflict("This person is a member of the organization already.", code=ErrorCode.ALREADY_MEMBER)
    inviter = await session.get(User, actor.user_id)
    budget = await invitation_budget(session, organization.id, inviter, settings, now)
    if not budget.take():
        raise budget.refusal(field="invitationId")
    _count_resend(invitation, now)
    await cancel_email(session, invitation.message_id, reason="Replaced by a resent invitation email.")
    invitation.sent_at, invitation.expires_at = now, now + timedelta(days=settings.invitation_ttl_days)
    message = await _email_new_link(session, invitation, organization, inviter, settings)
    await session.flush()  # the message row first: the invitation refers to it
    invitation.message_id = message.id
    session.add(invitation)
    await session.flush()
    [details] = await load_details(session, [invitation])
    return details


async def revoke_invitation(session: AsyncSession, actor: Actor, invitation_id: str) -> InvitationDetails:
    """Withdraw an invitation that has not been answered (pending or expired); its link stops working."""
    invitation, _ = await admin_invitation(session, actor, invitation_id)
    now = clock.now()
    state = invitation.state_at(now)
    if state not in (InvitationState.PENDING, InvitationState.EXPIRED):
        raise closed_error(state)
    invitation.state = InvitationState.REVOKED
    invitation.revoked_at, invitation.revoked_by = now, actor.user_id
    await cancel_email(session, invitation.message_id, reason="The invitation was revoked.")
    session.add(invitation)
    await session.flush()
    [details] = await load_details(session, [invitation])
    return details


async def _new_invitation(
    session: AsyncSession,
    organization: Organization,
    inviter: User | None,
    email: str,
    normalized: str,
    role: OrganizationRole,
    settings: Settings,
) -> Invitation:
    now = clock.now()
    invitation = Invitation(
        organization_id=organization.id,
        email=email,
        email_normalized=normalized,
        role=role,
        token_hash="",
        invited_by=inviter.id if inviter else None,
        created_at=now,
        sent_at=now,
        expires_at=now + timedelta(days=settings.invitation_ttl_days),
    )
    message = await _email_new_link(session, invitation, organization, inviter, settings)
    invitation.message_id = message.id
    return invitation


async def _email_new_link(
    session: AsyncSession,
    invitation: Invitation,
    organization: Organization,
    inviter: User | None,
    settings: Settings,
) -> OutboxMessage:
    """Give the invitation a fresh single-use token and queue the email carrying it; only its hash is kept."""
    token = new_secret(32)
    invitation.token_hash = hash_secret(token)
    return await queue_invitation_email(
        session,
        invitation=invitation,
        organization=organization,
        inviter=inviter,
        token=token,
        settings=settings,
    )


def _count_resend(invitation: Invitation, now: datetime) -> None:
    started = invitation.resend_window_started_at
    if started is None or now - started >= RESEND_WINDOW:
        invitation.resend_window_started_at, invitation.resends_in_window = now, 0
        started = now
    if invitation.resends_in_window >= MAX_RESENDS_PER_DAY:
        wait = int((started + RESEND_WINDOW - now).total_seconds()) + 1
        raise Throttled(
            f"This invitation was resent {MAX_RESENDS_PER_DAY} times in the last day; try again in {in_words(wait)}.",
            retry_after_seconds=wait,
            field="invitationId",
        )
    invitation.resends_in_window += 1


def _normalized(raw: str) -> str | None:
    try:
        return normalize_email(raw)
    except InvalidInput:
        return None


async def _checked_grants(
    session: AsyncSession, org_id: str, role: OrganizationRole, grants: Sequence[ProjectGrant]
) -> list[ProjectGrant]:
    """MEMBER invitations name live projects of the organization; admins administer every project."""
    if role is OrganizationRole.ORGANIZATION_ADMIN:
        if grants:
            raise InvalidInput(
                "Organization Admins administer every project: give no projects for this role.",
                field="projects",
            )
        return []
    if not grants:
        raise InvalidInput(
            "Choose at least one project (with a project role) for a MEMBER.",
            code=ErrorCode.REQUIRED,
            field="projects",
        )
    ids = [grant.project_id for grant in grants]
    if len(set(ids)) != len(ids):
        raise InvalidInput("A project appears more than once.", field="projects")
    found = {
        project.id: project
        for project in await session.scalars(
            select(Project).where(col(Project.organization_id) == org_id).where(col(Project.id).in_(ids))
        )
    }
    if set(ids) - set(found):
        raise NotFound(PROJECT_NOT_FOUND, field="projects")
    if any(project.archived_at is not None for project in found.values()):
        raise Conflict(
            "An archived project cannot be given.", code=ErrorCode.PROJECT_ARCHIVED, field="projects"
        )
    return list(grants)


async def _member_addresses(session: AsyncSession, org_id: str, addresses: set[str]) -> set[str]:
    if not addresses:
        return set()
    rows = await session.scalars(
        select(col(User.email_normalized))
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.organization_id) == org_id)
        .where(col(User.email_normalized).in_(addresses))
    )
    return set(rows)


async def _pending_by_address(
    session: AsyncSession, org_id: str, addresses: set[str], now: datetime
) -> dict[str, Invitation]:
    if not addresses:
        return {}
    rows = await session.scalars(
        select(Invitation)
        .where(col(Invitation.organization_id) == org_id)
        .where(col(Invitation.state) == InvitationState.PENDING)
        .where(col(Invitation.expires_at) > now)
        .where(col(Invitation.email_normalized).in_(addresses))
    )
    return {invitation.email_normalized: invitation for invitation in rows}

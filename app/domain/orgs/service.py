"""Organizations, their members and roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import organization_changed
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from app.domain.orgs.access import lock_organization, organization_role, require_org_admin
from app.domain.orgs.models import Membership, Organization, OrganizationRole, OrganizationType
from app.domain.projects.models import Project, ProjectMembership
from app.domain.validation import clean_name

DEFAULT_PROJECT_NAME = "Default"
MEMBER_NOT_FOUND = "This user is not a member of the organization."


@dataclass(frozen=True)
class OrganizationMembership:
    organization: Organization
    role: OrganizationRole


async def create_organization(
    session: AsyncSession, *, owner: User, name: str, type: OrganizationType
) -> Organization:
    """An organization whose first Organization Admin is ``owner``, with its Default project."""
    organization = Organization(name=clean_name(name), type=type)
    session.add(organization)
    await session.flush()  # the rows below refer to it; without relationships the flush order is not implied
    session.add(
        Membership(
            organization_id=organization.id, user_id=owner.id, role=OrganizationRole.ORGANIZATION_ADMIN
        )
    )
    session.add(Project(organization_id=organization.id, name=DEFAULT_PROJECT_NAME, is_default=True))
    await session.flush()
    return organization


async def create_team_organization(session: AsyncSession, actor: Actor, *, name: str) -> Organization:
    owner = await session.get(User, actor.user_id)
    assert owner is not None, "an authenticated actor is a stored user"
    return await create_organization(session, owner=owner, name=name, type=OrganizationType.TEAM)


async def rename_organization(session: AsyncSession, actor: Actor, org_id: str, *, name: str) -> Organization:
    organization = await require_org_admin(session, actor, org_id)
    organization.name = clean_name(name)
    session.add(organization)
    return organization


async def set_organization_type(
    session: AsyncSession, actor: Actor, org_id: str, *, type: OrganizationType
) -> Organization:
    """Platform staff only: customers change their organization's type by contacting support."""
    if not actor.is_staff:
        raise Forbidden("Only platform staff can change an organization's type; contact support.")
    organization = await session.get(Organization, org_id)
    if organization is None:
        raise NotFound("No organization with this ID.", field="organizationId")
    await lock_organization(session, org_id)
    if type is OrganizationType.PERSONAL and await _member_count(session, org_id) > 1:
        raise Conflict(
            "A Personal organization has exactly one member.", code=ErrorCode.PERSONAL_ORGANIZATION
        )
    organization.type = type
    organization.type_changed_by, organization.type_changed_at = actor.user_id, clock.now()
    session.add(organization)
    organization_changed(session, org_id)
    return organization


async def memberships_of(session: AsyncSession, actor: Actor) -> list[OrganizationMembership]:
    """The organizations the actor can reach, with their role in each, oldest first."""
    rows = await session.execute(
        select(Organization, col(Membership.role))
        .join(Membership, col(Membership.organization_id) == col(Organization.id))
        .where(col(Membership.user_id) == actor.user_id)
        .order_by(col(Organization.created_at), col(Organization.id))
    )
    result = []
    for organization, role in rows:
        # members without a live project have lost access (and are filtered out here)
        if role is OrganizationRole.ORGANIZATION_ADMIN or await organization_role(
            session, actor, organization.id
        ):
            result.append(OrganizationMembership(organization, role))
    return result


async def change_member_role(
    session: AsyncSession, actor: Actor, org_id: str, *, user_id: str, role: OrganizationRole
) -> Membership:
    await require_org_admin(session, actor, org_id)
    await lock_organization(session, org_id)
    membership = await _membership(session, org_id, user_id)
    if (
        membership.role is OrganizationRole.ORGANIZATION_ADMIN
        and role is not OrganizationRole.ORGANIZATION_ADMIN
    ):
        await _keep_an_admin(session, org_id)
    membership.role = role
    session.add(membership)
    return membership


async def remove_member(session: AsyncSession, actor: Actor, org_id: str, *, user_id: str) -> None:
    await require_org_admin(session, actor, org_id)
    await _drop_membership(session, org_id, user_id)


async def leave_organization(session: AsyncSession, actor: Actor, org_id: str) -> None:
    if await organization_role(session, actor, org_id) is None:
        raise NotFound("No organization with this ID is visible to you.", field="organizationId")
    await _drop_membership(session, org_id, actor.user_id)


async def _drop_membership(session: AsyncSession, org_id: str, user_id: str) -> None:
    await lock_organization(session, org_id)
    membership = await _membership(session, org_id, user_id)
    if membership.role is OrganizationRole.ORGANIZATION_ADMIN:
        await _keep_an_admin(session, org_id)
    project_ids = select(col(Project.id)).where(col(Project.organization_id) == org_id)
    await session.execute(
        delete(ProjectMembership)
        .where(col(ProjectMembership.user_id) == user_id)
        .where(col(ProjectMembership.project_id).in_(project_ids))
    )
    await session.delete(membership)


async def _membership(session: AsyncSession, org_id: str, user_id: str) -> Membership:
    membership = await session.get(Membership, (org_id, user_id))
    if membership is None:
        raise NotFound(MEMBER_NOT_FOUND, code=ErrorCode.NOT_A_MEMBER, field="userId")
    return membership


async def _keep_an_admin(session: AsyncSession, org_id: str) -> None:
    admins = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(col(Membership.organization_id) == org_id)
        .where(col(Membership.role) == OrganizationRole.ORGANIZATION_ADMIN)
    )
    if (admins or 0) <= 1:
        raise Conflict(
            "An organization keeps at least one Organization Admin: the last one cannot leave, be removed "
            "or be demoted. Make another member an admin first.",
            code=ErrorCode.LAST_ORGANIZATION_ADMIN,
        )


async def _member_count(session: AsyncSession, org_id: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(col(Membership.organization_id) == org_id)
    )
    return count or 0


def require_team(organization: Organization) -> None:
    """Some operations (invitations, credits) exist only for Team organizations."""
    if organization.type is not OrganizationType.TEAM:
        raise InvalidInput(
            "This is a Personal organization; create a Team organization for this.",
            code=ErrorCode.PERSONAL_ORGANIZATION,
        )

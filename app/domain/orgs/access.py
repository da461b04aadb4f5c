"""Who may see and do what in an organization: the one place that answers it.

Someone with no access to an organization gets NotFound, never Forbidden, so that probing IDs
tells nothing about other organizations. Forbidden is for members who lack the role.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.actor import Actor
from app.domain.errors import Forbidden, NotFound
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.domain.projects.models import Project, ProjectMembership, ProjectRole

ORG_NOT_FOUND = "No organization with this ID is visible to you."
PROJECT_NOT_FOUND = "No project with this ID is visible to you."
# one wording for every FORBIDDEN a member meets, whatever they tried to read or do
ORG_ADMINS_ONLY = "Only an Organization Admin may do this."
PROJECT_ADMINS_ONLY = "Only an Organization Admin or a Project Admin of this project may do this."


async def organization_role(session: AsyncSession, actor: Actor, org_id: str) -> OrganizationRole | None:
    """The actor's role in the organization, or None when they have no access to it.

    A member without the admin role reaches the organization only through a live project:
    whose only projects are archived loses access.
    """
    membership = await session.get(Membership, (org_id, actor.user_id))
    if membership is None:
        return None
    if membership.role is OrganizationRole.ORGANIZATION_ADMIN:
        return membership.role
    has_live_project = await session.scalar(
        select(
            exists()
            .where(col(ProjectMembership.user_id) == actor.user_id)
            .where(col(ProjectMembership.project_id) == col(Project.id))
            .where(col(Project.organization_id) == org_id)
            .where(col(Project.archived_at).is_(None))
        )
    )
    return membership.role if has_live_project else None


async def require_member(
    session: AsyncSession, actor: Actor, org_id: str
) -> tuple[Organization, OrganizationRole]:
    """The organization and the actor's role in it; NotFound when they have no access."""
    role = await organization_role(session, actor, org_id)
    organization = await session.get(Organization, org_id) if role else None
    if organization is None or role is None:
        raise NotFound(ORG_NOT_FOUND, field="organizationId")
    return organization, role


async def require_org_admin(session: AsyncSession, actor: Actor, org_id: str) -> Organization:
    """The organization, if the actor is one of its Organization Admins."""
    organization, role = await require_member(session, actor, org_id)
    if role is not OrganizationRole.ORGANIZATION_ADMIN:
        raise Forbidden(ORG_ADMINS_ONLY)
    return organization


async def project_role(session: AsyncSession, actor: Actor, project: Project) -> ProjectRole | None:
    """The actor's effective role in a project: Organization Admins administer every project."""
    org_role = await organization_role(session, actor, project.organization_id)
    if org_role is OrganizationRole.ORGANIZATION_ADMIN:
        return ProjectRole.PROJECT_ADMIN
    if org_role is None or project.archived_at is not None:
        return None
    membership = await session.get(ProjectMembership, (project.id, actor.user_id))
    return membership.role if membership else None


async def require_project(
    session: AsyncSession, actor: Actor, project_id: str, *, admin: bool = False
) -> tuple[Project, ProjectRole]:
    """The project and the actor's role in it; Forbidden when ``admin`` is asked of a Project Member."""
    project = await session.get(Project, project_id)
    role = await project_role(session, actor, project) if project else None
    if project is None or role is None:
        raise NotFound(PROJECT_NOT_FOUND, field="projectId")
    if admin and role is not ProjectRole.PROJECT_ADMIN:
        raise Forbidden(PROJECT_ADMINS_ONLY)
    return project, role


async def lock_organization(session: AsyncSession, org_id: str) -> None:
    """Serialize membership changes of one organization (row lock on PostgreSQL; SQLite writes are serial)."""
    await session.execute(
        select(col(Organization.id)).where(col(Organization.id) == org_id).with_for_update()
    )


async def shares_organization(session: AsyncSession, actor: Actor, user_id: str) -> bool:
    """Whether the actor and the user are members of a common organization."""
    mine = select(col(Membership.organization_id)).where(col(Membership.user_id) == actor.user_id)
    return bool(
        await session.scalar(
            select(
                exists()
                .where(col(Membership.user_id) == user_id)
                .where(col(Membership.organization_id).in_(mine))
            )
        )
    )

"""What a viewer may do in an organization or a project, from their role: the flags a UI shows.

The services enforce the same rules through ``access``; these flags only spare a client from
re-encoding the role table. A test checks each flag against the service that enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.orgs.models import OrganizationRole, OrganizationType
from app.domain.projects.models import Project, ProjectRole


@dataclass(frozen=True)
class OrganizationPermissions:
    rename: bool
    manage_members: bool
    invite: bool
    manage_billing: bool
    buy_credits: bool
    subscribe: bool
    create_project: bool
    view_all_usage: bool


@dataclass(frozen=True)
class ProjectPermissions:
    manage_keys: bool
    manage_members: bool
    set_rate_limits: bool
    rename: bool
    archive: bool


def organization_permissions(
    org_type: OrganizationType, role: OrganizationRole | None
) -> OrganizationPermissions:
    """The viewer's permissions in an organization, given their role (None: staff, not a member)."""
    admin = role is OrganizationRole.ORGANIZATION_ADMIN
    team_admin = admin and org_type is OrganizationType.TEAM
    return OrganizationPermissions(
        rename=admin,
        manage_members=team_admin,
        invite=team_admin,
        manage_billing=admin,
        buy_credits=team_admin,
        subscribe=team_admin,
        create_project=admin,
        view_all_usage=admin,
    )


def project_permissions(
    project: Project, org_role: OrganizationRole | None, role: ProjectRole | None
) -> ProjectPermissions:
    """The viewer's permissions in a project: Organization Admins administer every project."""
    live = project.archived_at is None
    org_admin = org_role is OrganizationRole.ORGANIZATION_ADMIN
    project_admin = live and (org_admin or role is ProjectRole.PROJECT_ADMIN)
    return ProjectPermissions(
        manage_keys=project_admin,
        manage_members=project_admin,
        set_rate_limits=org_admin,
        rename=org_admin and live,
        archive=org_admin and live and not project.is_default,
    )

"""The domain's enums as GraphQL sees them, each value described."""

from __future__ import annotations

from app.domain.orgs.models import OrganizationRole, OrganizationType
from app.domain.projects.models import ProjectRole
from app.graphql.errors import describe_enum

OrganizationTypeEnum = describe_enum(
    OrganizationType,
    "What kind of organization this is; only platform staff change it (customers contact support).",
    PERSONAL="A one-person organization created at sign-up; free usage, no invitations.",
    TEAM="An organization for a team: members, invitations, credits and subscriptions.",
)

OrganizationRoleEnum = describe_enum(
    OrganizationRole,
    "A member's role in the whole organization.",
    ORGANIZATION_ADMIN="May do everything in the organization, and administers every project.",
    MEMBER="Reaches the organization through the projects they are assigned to.",
)

ProjectRoleEnum = describe_enum(
    ProjectRole,
    "A member's role in one project.",
    PROJECT_ADMIN="Creates and revokes the project's API keys and manages its members.",
    PROJECT_MEMBER="Views the project and its API keys (masked) and uses them.",
)

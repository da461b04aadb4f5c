"""Imports every area's table models so that SQLModel.metadata (and Alembic) sees them all."""

from app.domain.accounts.models import AuthSession, SignInThrottle, User
from app.domain.api_keys.models import ApiKey
from app.domain.orgs.models import Membership, Organization
from app.domain.projects.models import Project, ProjectMembership, ProjectRateLimit

__all__ = [
    "ApiKey",
    "AuthSession",
    "Membership",
    "Organization",
    "Project",
    "ProjectMembership",
    "ProjectRateLimit",
    "SignInThrottle",
    "User",
]

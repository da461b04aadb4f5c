"""Who may touch an organization's credits: its Org Admins, and only in a Team organization."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.actor import Actor
from app.domain.errors import Conflict, ErrorCode
from app.domain.orgs.access import require_org_admin
from app.domain.orgs.models import Organization, OrganizationType


async def require_team_admin(session: AsyncSession, actor: Actor, organization_id: str) -> Organization:
    """The organization, if the actor is its Org Admin and it is a Team organization (PayGo credits)."""
    organization = await require_org_admin(session, actor, organization_id)
    if organization.type is not OrganizationType.TEAM:
        raise Conflict(
            "PayGo credits are for Team organizations; a Personal organization has free usage.",
            code=ErrorCode.PERSONAL_ORGANIZATION,
        )
    return organization

"""The viewer: the signed-in user and the organizations they belong to."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain.accounts import service as accounts
from app.domain.errors import ErrorCode
from app.domain.orgs import service as orgs
from app.graphql.accounts.types import SessionsResult, SessionStatus, User, UserSession, UserSessions
from app.graphql.context import Info
from app.graphql.enums import OrganizationRoleEnum
from app.graphql.errors import field_with_errors
from app.graphql.orgs.types import Organization


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in user, or null without a valid session.")
    async def me(self, info: Info) -> Me | None:
        context = info.context
        if context.user is None or context.auth_session is None:
            return None
        return Me(
            user=User.from_model(context.user),
            is_staff=context.user.is_staff,
            session_expires_at=context.auth_session.expires_at,
            organizations=await organizations_of_viewer(info),
        )


async def organizations_of_viewer(info: Info) -> list[OrganizationMembership]:
    """The signed-in user's organizations with their role in each, oldest first."""
    memberships = await orgs.memberships_of(await info.context.session(), info.context.actor())
    return [
        OrganizationMembership(organization=Organization.from_model(m.organization, m.role), role=m.role)
        for m in memberships
    ]


@strawberry.type(description="An organization the signed-in user belongs to, with their role in it.")
class OrganizationMembership:
    organization: Organization = strawberry.field(description="The organization.")
    role: OrganizationRoleEnum = strawberry.field(description="The user's organization role.")


@strawberry.type(description="The signed-in user and what they belong to.")
class Me:
    user: User = strawberry.field(description="The signed-in user's account.")
    is_staff: bool = strawberry.field(description="Whether the user is platform staff (support).")
    session_expires_at: datetime = strawberry.field(description="When the current session expires (UTC).")
    organizations: list[OrganizationMembership] = strawberry.field(
        description="The organizations the user belongs to, with their role in each, oldest first."
    )


@strawberry.type
class AccountSecurityQueries:
    @strawberry.field(description="Whether the request carries a live session, an expired one, or none.")
    def session_status(self, info: Info) -> SessionStatus:
        context = info.context
        if context.user is not None:
            return SessionStatus.ACTIVE
        if context.auth_error is None:
            return SessionStatus.NONE
        return (
            SessionStatus.EXPIRED
            if context.auth_error.code is ErrorCode.SESSION_EXPIRED
            else SessionStatus.INVALID
        )

    @field_with_errors(
        "The signed-in user's live sessions (created, last used, browser), to end any of them."
    )
    async def my_sessions(self, info: Info) -> SessionsResult:
        actor = info.context.actor()
        current = info.context.auth_session.id if info.context.auth_session else None
        rows = await accounts.list_sessions(await info.context.session(), user_id=actor.user_id)
        return UserSessions(sessions=[UserSession.from_model(row, current) for row in rows])

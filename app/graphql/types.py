"""The console's core objects as Relay nodes: users, organizations, members, projects, API keys.

An object is only ever built after an access check, and it carries the viewer's role, so nested
fields trust their parent instead of checking again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from app.domain.accounts.models import User as UserModel
from app.domain.api_keys import service as api_keys
from app.domain.api_keys.models import ApiKey as ApiKeyModel
from app.domain.errors import DomainError, Forbidden, NotFound
from app.domain.orgs import access
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.orgs.models import Organization as OrganizationModel
from app.domain.projects.models import Project as ProjectModel
from app.domain.projects.models import ProjectMembership, ProjectRole
from app.domain.projects.models import ProjectRateLimit as RateLimitModel
from app.graphql.context import Info
from app.graphql.enums import OrganizationRoleEnum, OrganizationTypeEnum, ProjectRoleEnum
from app.graphql.errors import ForbiddenError, field_with_errors

if TYPE_CHECKING:
    from app.graphql.billing import BillingResult
    from app.graphql.credit_types import CreditsResult
    from app.graphql.invitation_types import InvitationsResult
    from app.graphql.plans import ModelPlan
    from app.graphql.subscription_types import SubscriptionsResult


async def _visible(info: Info, lookup: Any, node_ids: Iterable[str], required: bool) -> list[Any]:
    """Resolve nodes one by one through an access-checked lookup; what is not visible is None."""
    if info.context.user is None:
        return [None for _ in node_ids]
    actor = info.context.actor()
    session = await info.context.session()
    result = []
    for node_id in node_ids:
        try:
            result.append(await lookup(session, actor, node_id))
        except DomainError:
            result.append(None)
    return result


@strawberry.type(description="A person with an account.")
class User(relay.Node):
    user_id: relay.NodeID[str]
    email: str = strawberry.field(description="The email address the user signs in with.")
    name: str = strawberry.field(description="The user's display name (may be empty).")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(user_id=user.id, email=user.email, name=user.name, created_at=user.created_at)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, user_id: str) -> User:
            if user_id != actor.user_id and not await access.shares_organization(session, actor, user_id):
                raise NotFound("No such user.")
            user = await session.get(UserModel, user_id)
            if user is None:
                raise NotFound("No such user.")
            return cls.from_model(user)

        return await _visible(info, lookup, node_ids, required)


async def _user(info: Info, user_id: str | None) -> User | None:
    if user_id is None:
        return None
    assert info.context.loaders
    user = await info.context.loaders.user.load(user_id)
    return User.from_model(user) if user else None


@strawberry.type(description="A project role of a member.")
class ProjectAssignment:
    project_id: strawberry.Private[str]
    role: ProjectRoleEnum = strawberry.field(description="The member's role in the project.")  # type: ignore[valid-type]

    @strawberry.field(description="The project.")
    async def project(self, info: Info) -> Project:
        assert info.context.loaders
        model = await info.context.loaders.project.load(self.project_id)
        return Project.from_model(model, ProjectRole.PROJECT_ADMIN)


@strawberry.type(description="A member of an organization, as the Members page shows them.")
class OrganizationMember(relay.Node):
    member_id: relay.NodeID[str]
    organization_id: strawberry.Private[str]
    user_id: strawberry.Private[str]
    role: OrganizationRoleEnum = strawberry.field(description="The member's organization role.")  # type: ignore[valid-type]
    joined_at: datetime = strawberry.field(description="When they joined the organization (UTC).")

    @classmethod
    def from_model(cls, membership: Membership) -> OrganizationMember:
        return cls(
            member_id=f"{membership.organization_id}/{membership.user_id}",
            organization_id=membership.organization_id,
            user_id=membership.user_id,
            role=membership.role,
            joined_at=membership.created_at,
        )

    @strawberry.field(description="The member's account.")
    async def user(self, info: Info) -> User:
        user = await _user(info, self.user_id)
        assert user is not None
        return user

    @strawberry.field(description="The projects the member is assigned to, with their role in each.")
    async def project_roles(self, info: Info) -> list[ProjectAssignment]:
        assert info.context.loaders
        by_user = await info.context.loaders.project_memberships_in_org(self.organization_id)
        return [
            ProjectAssignment(project_id=m.project_id, role=m.role) for m in by_user.get(self.user_id, [])
        ]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, member_id: str) -> OrganizationMember:
            org_id, _, user_id = member_id.partition("/")
            await access.require_org_admin(session, actor, org_id)
            membership = await session.get(Membership, (org_id, user_id))
            if membership is None:
                raise NotFound("No such member.")
            return cls.from_model(membership)

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="A member of a project and their project role.")
class ProjectMember:
    user_id: strawberry.Private[str]
    role: ProjectRoleEnum = strawberry.field(description="The member's role in this project.")  # type: ignore[valid-type]
    added_at: datetime = strawberry.field(description="When they were added to the project (UTC).")

    @strawberry.field(description="The member's account.")
    async def user(self, info: Info) -> User:
        user = await _user(info, self.user_id)
        assert user is not None
        return user


@strawberry.type(description="A project's own per-model ceiling, below the organization's limit.")
class ProjectRateLimit:
    model: str = strawberry.field(description="The model's catalog id.")
    requests_per_minute: int | None = strawberry.field(description="Requests per minute; null: no own limit.")
    tokens_per_minute: int | None = strawberry.field(description="Tokens per minute; null: no own limit.")
    requests_per_day: int | None = strawberry.field(description="Requests per day; null: no own limit.")
    tokens_per_day: int | None = strawberry.field(description="Tokens per day; null: no own limit.")
    updated_at: datetime = strawberry.field(description="When the limit was last set (UTC).")

    @classmethod
    def from_model(cls, row: RateLimitModel) -> ProjectRateLimit:
        return cls(
            model=row.model_id,
            requests_per_minute=row.requests_per_minute,
            tokens_per_minute=row.tokens_per_minute,
            requests_per_day=row.requests_per_day,
            tokens_per_day=row.tokens_per_day,
            updated_at=row.updated_at,
        )


@strawberry.type(
    description="An API key of a project. Its secret is shown once, at creation; lists show it masked."
)
class ApiKey(relay.Node):
    key_id: relay.NodeID[str]
    project_id: strawberry.Private[str]
    creator_id: strawberry.Private[str | None]
    name: str = strawberry.field(description="The key's name.")
    masked_key: str = strawberry.field(
        description="The key's first and last characters, e.g. `csk-ab12…wxyz`."
    )
    created_at: datetime = strawberry.field(description="When the key was created (UTC).")
    last_used_at: datetime | None = strawberry.field(description="When the key last ran a request (UTC).")
    revoked_at: datetime | None = strawberry.field(
        description="When the key was revoked (UTC); null: active."
    )

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            key_id=key.id,
            project_id=key.project_id,
            creator_id=key.created_by,
            name=key.name,
            masked_key=api_keys.masked(key),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )

    @strawberry.field(description="Whether the key may still be used.")
    def is_active(self) -> bool:
        return self.revoked_at is None

    @strawberry.field(description="Who created the key; null if that account is gone.")
    async def created_by(self, info: Info) -> User | None:
        return await _user(info, self.creator_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, key_id: str) -> ApiKey:
            key, _ = await api_keys.get_api_key(session, actor, key_id)
            return cls.from_model(key)

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="A project: API keys, members and rate limits live here.")
class Project(relay.Node):
    project_id: relay.NodeID[str]
    organization_id: strawberry.Private[str]
    name: str = strawberry.field(description="The project's name.")
    is_default: bool = strawberry.field(description="Whether this is the organization's Default project.")
    created_at: datetime = strawberry.field(description="When the project was created (UTC).")
    archived_at: datetime | None = strawberry.field(
        description="When it was archived (UTC); its keys stop then."
    )
    viewer_role: ProjectRoleEnum = strawberry.field(  # type: ignore[valid-type]
        description="The signed-in user's role here (Organization Admins are Project Admins everywhere)."
    )

    @classmethod
    def from_model(cls, project: ProjectModel, role: ProjectRole) -> Project:
        return cls(
            project_id=project.id,
            organization_id=project.organization_id,
            name=project.name,
            is_default=project.is_default,
            created_at=project.created_at,
            archived_at=project.archived_at,
            viewer_role=role,
        )

    @strawberry.field(description="The organization the project belongs to.")
    async def organization(self, info: Info) -> Organization:
        session = await info.context.session()
        organization, role = await access.require_member(session, info.context.actor(), self.organization_id)
        return Organization.from_model(organization, role)

    @relay.connection(
        relay.ListConnection[ApiKey], description="The project's API keys, masked, oldest first."
    )
    async def api_keys(self, info: Info) -> Iterable[ApiKey]:
        assert info.context.loaders
        return [
            ApiKey.from_model(k) for k in await info.context.loaders.api_keys_by_project.load(self.project_id)
        ]

    @strawberry.field(
        description="The project's members and their project roles (Organization Admins are implied)."
    )
    async def members(self, info: Info) -> list[ProjectMember]:
        assert info.context.loaders
        rows: list[ProjectMembership] = await info.context.loaders.project_members_by_project.load(
            self.project_id
        )
        return [ProjectMember(user_id=m.user_id, role=m.role, added_at=m.created_at) for m in rows]

    @strawberry.field(description="The project's own per-model rate limits.")
    async def rate_limits(self, info: Info) -> list[ProjectRateLimit]:
        from sqlalchemy import select

        session = await info.context.session()
        rows = await session.scalars(
            select(RateLimitModel)
            .where(RateLimitModel.project_id == self.project_id)
            .order_by(RateLimitModel.model_id)
        )
        return [ProjectRateLimit.from_model(row) for row in rows]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, project_id: str) -> Project:
            project, role = await access.require_project(session, actor, project_id)
            return cls.from_model(project, role)

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="The organization's members; Organization Admins only.")
class MemberList:
    items: strawberry.Private[list[Membership]]

    @relay.connection(relay.ListConnection[OrganizationMember], description="The members, oldest first.")
    def members(self) -> Iterable[OrganizationMember]:
        return [OrganizationMember.from_model(m) for m in self.items]


MembersResult = Annotated[
    MemberList | ForbiddenError,
    strawberry.union(
        "MembersResult", description="The member list, or FORBIDDEN for anyone but an Organization Admin."
    ),
]


@strawberry.type(description="An organization: its settings, members and projects.")
class Organization(relay.Node):
    org_id: relay.NodeID[str]
    organization_id: str = strawberry.field(
        description="The Organization ID, as support and the API quote it."
    )
    name: str = strawberry.field(description="The organization's name; Organization Admins may rename it.")
    type: OrganizationTypeEnum = strawberry.field(description="PERSONAL or TEAM.")  # type: ignore[valid-type]
    created_at: datetime = strawberry.field(description="When the organization was created (UTC).")
    viewer_role: OrganizationRoleEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="The signed-in user's role here; null for platform staff who are not members."
    )

    @classmethod
    def from_model(cls, organization: OrganizationModel, role: OrganizationRole | None) -> Organization:
        return cls(
            org_id=organization.id,
            organization_id=organization.id,
            name=organization.name,
            type=organization.type,
            created_at=organization.created_at,
            viewer_role=role,
        )

    @field_with_errors(
        "The Members page: the members and their roles. Organization Admins only; others get FORBIDDEN."
    )
    async def members(self, info: Info) -> MembersResult:
        if self.viewer_role is not OrganizationRole.ORGANIZATION_ADMIN:
            raise Forbidden("The member list is visible to Organization Admins only.")
        assert info.context.loaders
        return MemberList(items=await info.context.loaders.members_by_org.load(self.org_id))

    @field_with_errors(
        "The Invites list: pending invitations, and those declined or expired in the last 30 days. "
        "Organization Admins only; others get FORBIDDEN."
    )
    async def invitations(
        self, info: Info
    ) -> Annotated[InvitationsResult, strawberry.lazy("app.graphql.invitation_types")]:
        # imported here: the invitation types build on the types of this module
        from app.domain.invitations.queries import list_invitations
        from app.graphql.invitation_types import InvitationList

        items = await list_invitations(await info.context.session(), info.context.actor(), self.org_id)
        return InvitationList(items=items)

    @field_with_errors(
        "The organization's model subscriptions, newest first. Organization Admins only; others get FORBIDDEN."
    )
    async def subscriptions(
        self,
        info: Info,
        include_ended: Annotated[
            bool, strawberry.argument(description="Also list the subscriptions that have ended.")
        ] = False,
    ) -> Annotated[SubscriptionsResult, strawberry.lazy("app.graphql.subscription_types")]:
        from app.graphql.subscription_types import subscription_list

        return await subscription_list(info, self.org_id, include_ended=include_ended)

    @field_with_errors(
        "PayGo credits: balance, grant history, ledger, auto-recharge. Organization Admins only; others get FORBIDDEN."
    )
    async def credits(
        self, info: Info
    ) -> Annotated[CreditsResult, strawberry.lazy("app.graphql.credit_types")]:
        from app.graphql.credit_types import load_credits

        if self.viewer_role is not OrganizationRole.ORGANIZATION_ADMIN:
            raise Forbidden("Credits are visible to Organization Admins only.")
        return await load_credits(info, self.org_id)

    @field_with_errors(
        "Payment methods, billing address and billing history. Organization Admins only; others get FORBIDDEN."
    )
    async def billing(self, info: Info) -> Annotated[BillingResult, strawberry.lazy("app.graphql.billing")]:
        from app.graphql.billing import Billing

        if self.viewer_role is not OrganizationRole.ORGANIZATION_ADMIN:
            raise Forbidden("Billing is visible to Organization Admins only.")
        return Billing(organization_id=self.org_id)

    @strawberry.field(
        description="Who pays for each catalog model right now (subscription, PayGo, free or none) and the "
        "organization's limits for it; every member sees it."
    )
    async def plans(self, info: Info) -> list[Annotated[ModelPlan, strawberry.lazy("app.graphql.plans")]]:
        from app.graphql.plans import plans_of_organization

        return await plans_of_organization(info, self.org_id)

    @relay.connection(
        relay.ListConnection[Project],
        description="Projects: all of them (archived too) for Organization Admins, the assigned live ones for others.",
    )
    async def projects(self, info: Info) -> Iterable[Project]:
        assert info.context.loaders
        projects = await info.context.loaders.projects_by_org.load(self.org_id)
        if self.viewer_role is OrganizationRole.ORGANIZATION_ADMIN:
            return [Project.from_model(p, ProjectRole.PROJECT_ADMIN) for p in projects]
        session = await info.context.session()
        actor = info.context.actor()
        visible = []
        for project in projects:
            role = await access.project_role(session, actor, project)
            if role is not None:
                visible.append(Project.from_model(project, role))
        return visible

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, org_id: str) -> Organization:
            organization, role = await access.require_member(session, actor, org_id)
            return cls.from_model(organization, role)

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="An organization the signed-in user belongs to, with their role in it.")
class OrganizationMembership:
    organization: Organization = strawberry.field(description="The organization.")
    role: OrganizationRoleEnum = strawberry.field(description="The user's organization role.")  # type: ignore[valid-type]


@strawberry.type(description="The signed-in user and what they belong to.")
class Me:
    user: User = strawberry.field(description="The signed-in user's account.")
    is_staff: bool = strawberry.field(description="Whether the user is platform staff (support).")
    session_expires_at: datetime = strawberry.field(description="When the current session expires (UTC).")
    organizations: list[OrganizationMembership] = strawberry.field(
        description="The organizations the user belongs to, with their role in each, oldest first."
    )

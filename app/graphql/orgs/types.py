"""The organization tree as Relay nodes: organizations, members, projects and invitations.

These types reference each other (a project names its organization, an invitation its projects, an
organization lists both), so they share one module; every other area's types hang below it.
An object is only ever built after an access check, and it carries the viewer's role, so nested
fields trust their parent instead of checking again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import Select, select
from sqlmodel import col
from strawberry import relay

from app import clock
from app.domain.accounts.models import User as UserModel
from app.domain.api_keys import service as api_key_service
from app.domain.api_keys.models import ApiKey as ApiKeyModel
from app.domain.errors import Forbidden, NotFound
from app.domain.invitations.models import Invitation as InvitationModel
from app.domain.invitations.models import InvitationProject
from app.domain.invitations.queries import InvitationDetails, get_invitation, invitation_list, load_details
from app.domain.orgs import access
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.orgs.models import Organization as OrganizationModel
from app.domain.orgs.permissions import organization_permissions, project_permissions
from app.domain.orgs.service import member_list
from app.domain.projects import service as projects
from app.domain.projects.models import Project as ProjectModel
from app.domain.projects.models import ProjectMembership, ProjectRole
from app.domain.projects.models import ProjectRateLimit as RateLimitModel
from app.graphql.accounts.types import User, load_user
from app.graphql.api_keys.types import ApiKey, ApiKeyStateEnum
from app.graphql.billing.types import Billing, BillingResult
from app.graphql.context import Info
from app.graphql.credits.types import CreditsResult, load_credits
from app.graphql.enums import OrganizationRoleEnum, OrganizationTypeEnum, ProjectRoleEnum
from app.graphql.errors import ConflictError, ForbiddenError, field_with_errors
from app.graphql.invitations.types import InvitationStateEnum, OutboxStateEnum
from app.graphql.paging import KeysetConnection, PartitionedPage, QueryPage
from app.graphql.plans.types import ModelPlan, plans_of_organization
from app.graphql.projects.types import ProjectMember, ProjectRateLimit
from app.graphql.subscriptions.types import SubscriptionList, SubscriptionsResult
from app.graphql.visibility import visible_nodes


@strawberry.type(
    description="What the signed-in user may do in an organization (the console hides the rest)."
)
class OrganizationPermissions:
    rename: bool = strawberry.field(description="Rename the organization.")
    manage_members: bool = strawberry.field(
        description="See the Members page, change roles, remove members (Team organizations)."
    )
    invite: bool = strawberry.field(
        description="Invite people and manage the Invites list (Team organizations)."
    )
    manage_billing: bool = strawberry.field(
        description="See billing: payment methods, billing address, receipts, statements."
    )
    buy_credits: bool = strawberry.field(
        description="Add PayGo credits and set auto-recharge (Team organizations)."
    )
    subscribe: bool = strawberry.field(
        description="Subscribe to, change and cancel model tiers (Team organizations)."
    )
    create_project: bool = strawberry.field(description="Create projects.")
    view_all_usage: bool = strawberry.field(
        description="See the usage of every project; otherwise only of the projects assigned."
    )


@strawberry.type(description="What the signed-in user may do in a project (the console hides the rest).")
class ProjectPermissions:
    manage_keys: bool = strawberry.field(description="Create and revoke the project's API keys.")
    manage_members: bool = strawberry.field(
        description="Add organization members to the project, set their project role, remove them."
    )
    set_rate_limits: bool = strawberry.field(description="Set the project's own per-model rate limits.")
    rename: bool = strawberry.field(description="Rename the project.")
    archive: bool = strawberry.field(description="Archive the project (never the Default project).")


@strawberry.type(
    description="An organization member a Project Admin may add to a project: their name and email only."
)
class ProjectCandidate:
    user_id: relay.GlobalID = strawberry.field(description="Their user ID, as `setProjectMember` takes it.")
    name: str = strawberry.field(description="Their display name (may be empty).")
    email: str = strawberry.field(description="Their email address.")

    @classmethod
    def of(cls, user: UserModel) -> ProjectCandidate:
        return cls(user_id=relay.GlobalID("User", user.id), name=user.name, email=user.email)


@strawberry.type(description="The organization's members who may be added to a project.")
class ProjectCandidates:
    query: strawberry.Private[Select[Any]]

    @relay.connection(KeysetConnection[ProjectCandidate], description="By email address.")  # type: ignore[type-var]
    def candidates(self, info: Info) -> Iterable[ProjectCandidate]:
        return QueryPage(info, self.query, ProjectCandidate.of)  # type: ignore[return-value]


ProjectCandidatesResult = Annotated[
    ProjectCandidates | ForbiddenError | ConflictError,
    strawberry.union(
        "ProjectCandidatesResult",
        description="The candidates, FORBIDDEN for a Project Member, PROJECT_ARCHIVED for an archived project.",
    ),
]


@strawberry.type(description="A project role of a member.")
class ProjectAssignment:
    project_id: strawberry.Private[str]
    role: ProjectRoleEnum = strawberry.field(description="The member's role in the project.")

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
    role: OrganizationRoleEnum = strawberry.field(description="The member's organization role.")
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
        user = await load_user(info, self.user_id)
        assert user is not None
        return user

    @strawberry.field(description="The projects the member is assigned to, with their role in each.")
    async def project_roles(self, info: Info) -> list[ProjectAssignment]:
        assert info.context.loaders
        memberships = await info.context.loaders.project_roles.load((self.organization_id, self.user_id))
        return [ProjectAssignment(project_id=m.project_id, role=m.role) for m in memberships]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, member_id: str) -> OrganizationMember:
            org_id, _, user_id = member_id.partition("/")
            await access.require_org_admin(session, actor, org_id)
            membership = await session.get(Membership, (org_id, user_id))
            if membership is None:
                raise NotFound("No such member.")
            return cls.from_model(membership)

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="A project: API keys, members and rate limits live here.")
class Project(relay.Node):
    project_id: relay.NodeID[str]
    model: strawberry.Private[ProjectModel]
    organization_id: strawberry.Private[str]
    name: str = strawberry.field(description="The project's name.")
    is_default: bool = strawberry.field(description="Whether this is the organization's Default project.")
    created_at: datetime = strawberry.field(description="When the project was created (UTC).")
    archived_at: datetime | None = strawberry.field(
        description="When it was archived (UTC); its keys stop then."
    )
    viewer_role: ProjectRoleEnum = strawberry.field(
        description="The signed-in user's role here (Organization Admins are Project Admins everywhere)."
    )

    @classmethod
    def from_model(cls, project: ProjectModel, role: ProjectRole) -> Project:
        return cls(
            project_id=project.id,
            model=project,
            organization_id=project.organization_id,
            name=project.name,
            is_default=project.is_default,
            created_at=project.created_at,
            archived_at=project.archived_at,
            viewer_role=role,
        )

    @strawberry.field(description="What the signed-in user may do in this project.")
    async def viewer_can(self, info: Info) -> ProjectPermissions:
        session = await info.context.session()
        org_role = await access.organization_role(session, info.context.actor(), self.organization_id)
        return ProjectPermissions(**vars(project_permissions(self.model, org_role, self.viewer_role)))

    @strawberry.field(description="The organization the project belongs to.")
    async def organization(self, info: Info) -> Organization:
        session = await info.context.session()
        organization, role = await access.require_member(session, info.context.actor(), self.organization_id)
        return Organization.from_model(organization, role)

    @relay.connection(KeysetConnection[ApiKey], description="The project's API keys, masked, oldest first.")
    def api_keys(
        self,
        info: Info,
        state: Annotated[
            ApiKeyStateEnum | None,
            strawberry.argument(description="ACTIVE or REVOKED keys only; null: both."),
        ] = None,
    ) -> Iterable[ApiKey]:
        # one read for the keys of every project on the page, each project's page only
        return PartitionedPage(  # type: ignore[return-value]
            info,
            api_key_service.key_list(state),
            ApiKey.from_model,
            column=col(ApiKeyModel.project_id),
            value=self.project_id,
            batch=("project api keys", state),
        )

    @relay.connection(
        KeysetConnection[ProjectMember],  # type: ignore[type-var]
        description="The project's members and their project roles (Organization Admins are implied), "
        "longest-standing first.",
    )
    def members(self, info: Info) -> Iterable[ProjectMember]:
        # one read for the members of every project on the page, each project's page only
        return PartitionedPage(  # type: ignore[return-value]
            info,
            projects.project_member_list(),
            ProjectMember.from_model,
            column=col(ProjectMembership.project_id),
            value=self.project_id,
            batch="project members",
        )

    @field_with_errors(
        "The organization's members who are not in this project (Organization Admins are in every project "
        "already): whom its Project Admins may add. Project Admins only; others get FORBIDDEN."
    )
    async def addable_members(
        self,
        info: Info,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only those whose email address or name contains this, case aside."
            ),
        ] = None,
    ) -> ProjectCandidatesResult:
        query = await projects.addable_members(
            await info.context.session(), info.context.actor(), self.project_id, search=search
        )
        return ProjectCandidates(query=query)

    @strawberry.field(description="The project's own per-model rate limits.")
    async def rate_limits(self, info: Info) -> list[ProjectRateLimit]:
        session = await info.context.session()
        rows = await session.scalars(
            select(RateLimitModel)
            .where(col(RateLimitModel.project_id) == self.project_id)
            .order_by(col(RateLimitModel.model_id))
        )
        return [ProjectRateLimit.from_model(row) for row in rows]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, project_id: str) -> Project:
            project, role = await access.require_project(session, actor, project_id)
            return cls.from_model(project, role)

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="The organization's members; Organization Admins only.")
class MemberList:
    organization_id: strawberry.Private[str]

    @relay.connection(KeysetConnection[OrganizationMember], description="The members, oldest first.")
    def members(self, info: Info) -> Iterable[OrganizationMember]:
        return QueryPage(info, member_list(self.organization_id), OrganizationMember.from_model)  # type: ignore[return-value]


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
    type: OrganizationTypeEnum = strawberry.field(description="PERSONAL or TEAM.")
    created_at: datetime = strawberry.field(description="When the organization was created (UTC).")
    viewer_role: OrganizationRoleEnum | None = strawberry.field(
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

    @strawberry.field(description="What the signed-in user may do in this organization.")
    def viewer_can(self) -> OrganizationPermissions:
        return OrganizationPermissions(**vars(organization_permissions(self.type, self.viewer_role)))

    def _admins_only(self) -> None:
        """Refuse a field Organization Admins alone may read: the viewer's role came with the object."""
        if self.viewer_role is not OrganizationRole.ORGANIZATION_ADMIN:
            raise Forbidden(access.ORG_ADMINS_ONLY)

    @field_with_errors(
        "The Members page: the members and their roles. Organization Admins only; others get FORBIDDEN."
    )
    async def members(self, info: Info) -> MembersResult:
        self._admins_only()
        assert info.context.loaders
        return MemberList(organization_id=self.org_id)

    @field_with_errors(
        "The Invites list: pending invitations, and those declined or expired in the last 30 days. "
        "Organization Admins only; others get FORBIDDEN."
    )
    async def invitations(
        self,
        info: Info,
        states: Annotated[
            list[InvitationStateEnum] | None,
            strawberry.argument(
                description="Only invitations in these states (e.g. [PENDING]); null: all listed."
            ),
        ] = None,
    ) -> InvitationsResult:
        self._admins_only()
        return InvitationList(organization_id=self.org_id, states=states)

    @field_with_errors(
        "The organization's model subscriptions, newest first. Organization Admins only; others get FORBIDDEN."
    )
    async def subscriptions(
        self,
        info: Info,
        include_ended: Annotated[
            bool, strawberry.argument(description="Also list the subscriptions that have ended.")
        ] = False,
    ) -> SubscriptionsResult:
        self._admins_only()
        return SubscriptionList(organization_id=self.org_id, include_ended=include_ended)

    @field_with_errors(
        "PayGo credits: balance, grant history, ledger, auto-recharge. Organization Admins only; others get FORBIDDEN."
    )
    async def credits(self, info: Info) -> CreditsResult:
        self._admins_only()
        return await load_credits(info, self.org_id)

    @field_with_errors(
        "Payment methods, billing address and billing history. Organization Admins only; others get FORBIDDEN."
    )
    async def billing(self, info: Info) -> BillingResult:
        self._admins_only()
        return Billing(organization_id=self.org_id)

    @strawberry.field(
        description="Who pays for each catalog model right now (subscription, PayGo, free or none) and the "
        "organization's limits for it; every member sees it."
    )
    async def plans(self, info: Info) -> list[ModelPlan]:

        return await plans_of_organization(info, self.org_id)

    @relay.connection(
        KeysetConnection[Project],
        description="Projects: all of them (archived too) for Organization Admins, the assigned live ones for others; "
        "oldest first.",
    )
    async def projects(
        self,
        info: Info,
        archived: Annotated[
            bool | None,
            strawberry.argument(
                description="true: only archived projects; false: only live ones; null: both."
            ),
        ] = None,
    ) -> Iterable[Project]:
        actor = info.context.actor()
        assert self.viewer_role is not None, "staff who are not members read no projects"
        query = projects.projects_query(self.org_id, actor, self.viewer_role, archived=archived)
        if self.viewer_role is OrganizationRole.ORGANIZATION_ADMIN:
            return QueryPage(info, query, lambda p: Project.from_model(p, ProjectRole.PROJECT_ADMIN))  # type: ignore[return-value]
        roles = await projects.project_roles(await info.context.session(), actor, self.org_id)
        return QueryPage(info, query, lambda p: Project.from_model(p, roles[p.id]))  # type: ignore[return-value]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, org_id: str) -> Organization:
            organization, role = await access.require_member(session, actor, org_id)
            return cls.from_model(organization, role)

        return await visible_nodes(info, lookup, node_ids, required)


async def visible_organization(info: Info, org_id: str) -> Organization | None:
    """The organization as the viewer sees it now, or None once they no longer belong to it."""
    session = await info.context.session()
    role = await access.organization_role(session, info.context.actor(), org_id)
    organization = await session.get(OrganizationModel, org_id) if role else None
    return Organization.from_model(organization, role) if organization else None


@strawberry.type(description="A mutation's answer that carries the changed object's organization.")
class InOrganization:
    """Base of payloads whose change belongs to an organization: they answer with it, for a client cache."""

    organization_id: strawberry.Private[str]

    @strawberry.field(
        description="The organization as it is now (its billing, credits and subscriptions included); null "
        "when the viewer is not a member of it (platform staff)."
    )
    async def organization(self, info: Info) -> Organization | None:
        return await visible_organization(info, self.organization_id)


async def visible_project(info: Info, project_id: str) -> Project:
    """A project the viewer has just acted on, as they see it now."""
    project, role = await access.require_project(
        await info.context.session(), info.context.actor(), project_id
    )
    return Project.from_model(project, role)


@strawberry.type(description="An invitation to join an organization, as its Organization Admins see it.")
class Invitation(relay.Node):
    invitation_id: relay.NodeID[str]
    organization_id: strawberry.Private[str]
    inviter_id: strawberry.Private[str | None]
    grants: strawberry.Private[list[InvitationProject]]
    email: str = strawberry.field(description="The invited address, as it was entered.")
    role: OrganizationRoleEnum = strawberry.field(description="The organization role accepting gives.")
    state: InvitationStateEnum = strawberry.field(description="Where the invitation stands.")
    created_at: datetime = strawberry.field(description="When the invitation was first sent (UTC).")
    sent_at: datetime = strawberry.field(
        description="When its current link was sent: creation or last resend (UTC)."
    )
    expires_at: datetime = strawberry.field(description="When its current link stops working (UTC).")
    responded_at: datetime | None = strawberry.field(
        description="When the invitee accepted or declined (UTC); null before."
    )
    email_delivery: OutboxStateEnum | None = strawberry.field(
        description="Delivery of the email with the current link; FAILED means the invitee never got it."
    )

    @classmethod
    def from_details(cls, details: InvitationDetails) -> Invitation:
        invitation = details.invitation
        return cls(
            invitation_id=invitation.id,
            organization_id=invitation.organization_id,
            inviter_id=invitation.invited_by,
            grants=details.projects,
            email=invitation.email,
            role=invitation.role,
            state=invitation.state_at(clock.now()),
            created_at=invitation.created_at,
            sent_at=invitation.sent_at,
            expires_at=invitation.expires_at,
            responded_at=invitation.responded_at,
            email_delivery=details.email_state,
        )

    @strawberry.field(description="Who sent the invitation; null if that account is gone.")
    async def invited_by(self, info: Info) -> User | None:
        if self.inviter_id is None:
            return None
        assert info.context.loaders
        user = await info.context.loaders.user.load(self.inviter_id)
        return User.from_model(user) if user else None

    @strawberry.field(
        description="The projects and project roles accepting gives (none for Organization Admins)."
    )
    def projects(self) -> list[ProjectAssignment]:
        return [ProjectAssignment(project_id=g.project_id, role=g.role) for g in self.grants]

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, invitation_id: str) -> Invitation:
            return cls.from_details(await get_invitation(session, actor, invitation_id))

        return await visible_nodes(info, lookup, node_ids, required)


@strawberry.type(description="The organization's Invites list; Organization Admins only.")
class InvitationList:
    organization_id: strawberry.Private[str]
    states: strawberry.Private[list[Any] | None] = None

    @relay.connection(
        KeysetConnection[Invitation],
        description="Pending invitations, and those declined or expired in the last 30 days; newest first.",
    )
    def invitations(self, info: Info) -> Iterable[Invitation]:
        async def with_details(rows: list[InvitationModel]) -> list[Invitation]:
            details = await load_details(await info.context.session(), rows)
            return [Invitation.from_details(d) for d in details]

        return QueryPage(info, invitation_list(self.organization_id, self.states), to_nodes=with_details)  # type: ignore[return-value]


InvitationsResult = Annotated[
    InvitationList | ForbiddenError,
    strawberry.union(
        "InvitationsResult",
        description="The Invites list, or FORBIDDEN for anyone but an Organization Admin.",
    ),
]

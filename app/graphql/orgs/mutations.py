"""Creating and changing organizations and their members."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.orgs import access
from app.domain.orgs import service as orgs
from app.domain.orgs.models import OrganizationRole, OrganizationType
from app.graphql.context import Info
from app.graphql.enums import OrganizationRoleEnum, OrganizationTypeEnum
from app.graphql.errors import INPUT, mutation, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.orgs.types import Organization, OrganizationMember, visible_organization


@strawberry.input(description="A new Team organization; its creator becomes its first Organization Admin.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="The organization's name (1 to 100 characters).")


@strawberry.input(description="A new name for an organization.")
class RenameOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    name: str = strawberry.field(description="The new name (1 to 100 characters).")


@strawberry.input(description="Staff only: change an organization's type.")
class SetOrganizationTypeInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    type: OrganizationTypeEnum = strawberry.field(description="The new type.")


@strawberry.input(description="A member's new organization role.")
class ChangeMemberRoleInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    user_id: relay.GlobalID = strawberry.field(description="The member's user ID.")
    role: OrganizationRoleEnum = strawberry.field(description="The new role.")


@strawberry.input(description="A member to remove from an organization.")
class RemoveMemberInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    user_id: relay.GlobalID = strawberry.field(description="The member's user ID.")


@strawberry.input(description="The organization the signed-in user leaves.")
class LeaveOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="The organization as it is now.")
class OrganizationPayload:
    organization: Organization = strawberry.field(description="The organization.")


@strawberry.type(description="The member as they are now.")
class MemberPayload:
    member: OrganizationMember = strawberry.field(description="The member.")

    @strawberry.field(description="The member's organization, as it is now.")
    async def organization(self, info: Info) -> Organization | None:
        return await visible_organization(info, self.member.organization_id)


@strawberry.type(description="Done.")
class MembershipEndedPayload:
    organization_id: relay.GlobalID = strawberry.field(
        description="The organization the membership ended in."
    )

    @strawberry.field(
        description="The organization as it is now; null when the signed-in user left it (no longer visible)."
    )
    async def organization(self, info: Info) -> Organization | None:
        return await visible_organization(info, self.organization_id.node_id)


CreateOrganizationResult = result_union("CreateOrganizationResult", OrganizationPayload)
RenameOrganizationResult = result_union("RenameOrganizationResult", OrganizationPayload)
SetOrganizationTypeResult = result_union("SetOrganizationTypeResult", OrganizationPayload)
ChangeMemberRoleResult = result_union("ChangeMemberRoleResult", MemberPayload)
RemoveMemberResult = result_union("RemoveMemberResult", MembershipEndedPayload)
LeaveOrganizationResult = result_union("LeaveOrganizationResult", MembershipEndedPayload)


def _user_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "User", "userId")


@strawberry.type
class OrganizationMutations:
    @mutation("Create a Team organization with its Default project; you become its Organization Admin.")
    async def create_organization(
        self, info: Info, input: Annotated[CreateOrganizationInput, INPUT]
    ) -> CreateOrganizationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            organization = await orgs.create_team_organization(session, actor, name=input.name)
        return OrganizationPayload(
            organization=Organization.from_model(organization, OrganizationRole.ORGANIZATION_ADMIN)
        )

    @mutation("Rename an organization (Organization Admins).")
    async def rename_organization(
        self, info: Info, input: Annotated[RenameOrganizationInput, INPUT]
    ) -> RenameOrganizationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            organization = await orgs.rename_organization(
                session, actor, org_id(input.organization_id), name=input.name
            )
        return OrganizationPayload(
            organization=Organization.from_model(organization, OrganizationRole.ORGANIZATION_ADMIN)
        )

    @mutation("Change an organization's type (platform staff only; customers contact support).")
    async def set_organization_type(
        self, info: Info, input: Annotated[SetOrganizationTypeInput, INPUT]
    ) -> SetOrganizationTypeResult:
        actor = info.context.actor()
        organization_id = org_id(input.organization_id)
        async with info.context.transaction() as session:
            organization = await orgs.set_organization_type(
                session, actor, organization_id, type=OrganizationType(input.type)
            )
            role = await access.organization_role(session, actor, organization_id)
        return OrganizationPayload(organization=Organization.from_model(organization, role))

    @mutation("Change a member's organization role (Organization Admins). The last admin cannot be demoted.")
    async def change_member_role(
        self, info: Info, input: Annotated[ChangeMemberRoleInput, INPUT]
    ) -> ChangeMemberRoleResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            membership = await orgs.change_member_role(
                session,
                actor,
                org_id(input.organization_id),
                user_id=_user_id(input.user_id),
                role=input.role,
            )
        return MemberPayload(member=OrganizationMember.from_model(membership))

    @mutation("Remove a member from the organization and its projects (Organization Admins).")
    async def remove_member(
        self, info: Info, input: Annotated[RemoveMemberInput, INPUT]
    ) -> RemoveMemberResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            await orgs.remove_member(
                session, actor, org_id(input.organization_id), user_id=_user_id(input.user_id)
            )
        return MembershipEndedPayload(organization_id=input.organization_id)

    @mutation("Leave an organization. The last Organization Admin cannot leave.")
    async def leave_organization(
        self, info: Info, input: Annotated[LeaveOrganizationInput, INPUT]
    ) -> LeaveOrganizationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            await orgs.leave_organization(session, actor, org_id(input.organization_id))
        return MembershipEndedPayload(organization_id=input.organization_id)

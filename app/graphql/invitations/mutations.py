"""Inviting people, resending and revoking invitations, and answering them."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.invitations import respond
from app.domain.invitations import service as invitations
from app.domain.orgs.models import OrganizationRole
from app.graphql.context import Info
from app.graphql.enums import OrganizationRoleEnum, ProjectRoleEnum
from app.graphql.errors import (
    INPUT,
    Error,
    TooManyAttemptsError,
    mutation,
    result_union,
)
from app.graphql.ids import node_id, org_id
from app.graphql.invitations.types import InvitationPreview
from app.graphql.orgs.types import Invitation, Organization, visible_organization


@strawberry.type(description="An address that was invited: its invitation email is on its way.")
class AddressInvited:
    email: str = strawberry.field(description="The address, as it was entered.")
    invitation: Invitation = strawberry.field(description="The new invitation.")


@strawberry.type(
    description="An address that got no invitation, and why: INVALID_EMAIL, DUPLICATE_ADDRESS, "
    "ALREADY_MEMBER or ALREADY_INVITED."
)
class AddressRefusedError(Error):
    email: str = strawberry.field(description="The address, as it was entered.")
    existing_invitation: Invitation | None = strawberry.field(
        description="For ALREADY_INVITED: the pending invitation; `resendInvitation` sends its link again."
    )


InviteOutcome = Annotated[
    AddressInvited | AddressRefusedError,
    strawberry.union("InviteOutcome", description="What happened to one address of an `inviteMembers` call."),
]


def outcome(result: invitations.AddressOutcome) -> AddressInvited | AddressRefusedError:
    """The GraphQL form of one address's outcome."""
    if isinstance(result, invitations.AddressInvited):
        return AddressInvited(email=result.email, invitation=Invitation.from_details(result.invitation))
    return AddressRefusedError(
        message=result.message,
        code=result.code,
        field="emails",
        email=result.email,
        existing_invitation=Invitation.from_details(result.existing) if result.existing else None,
    )


@strawberry.input(description="A project and the project role the invitee gets in it.")
class InvitedProjectInput:
    project_id: relay.GlobalID = strawberry.field(description="A live project of the organization.")
    role: ProjectRoleEnum = strawberry.field(description="The invitee's role in the project.")


@strawberry.input(description="People to invite to an organization, all with the same roles.")
class InviteMembersInput:
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")
    emails: list[str] = strawberry.field(
        description="1 to 50 email addresses; each gets its own invitation and email."
    )
    role: OrganizationRoleEnum = strawberry.field(description="The organization role they get.")
    projects: list[InvitedProjectInput] = strawberry.field(
        default_factory=list,
        description="For MEMBER: at least one project with a project role. Empty for ORGANIZATION_ADMIN.",
    )


@strawberry.input(description="An invitation to act on.")
class InvitationIdInput:
    invitation_id: relay.GlobalID = strawberry.field(description="The invitation.")


@strawberry.input(description="The token of an invitation link (the `token` parameter of its URL).")
class InvitationTokenInput:
    token: str = strawberry.field(description="The token from the invitation email's link.")


@strawberry.type(description="What happened to each address: invited, or why not.")
class InviteMembersPayload:
    organization_id: strawberry.Private[str]
    outcomes: list[InviteOutcome] = strawberry.field(
        description="One outcome per address, in the order given."
    )

    @strawberry.field(description="The organization, as it is now (its Invites list included).")
    async def organization(self, info: Info) -> Organization | None:
        return await visible_organization(info, self.organization_id)

    @strawberry.field(description="How many invitations were sent.")
    def invited_count(self) -> int:
        return sum(isinstance(item, AddressInvited) for item in self.outcomes)


@strawberry.type(description="The invitation as it is now.")
class InvitationPayload:
    invitation: Invitation = strawberry.field(description="The invitation.")

    @strawberry.field(description="The invitation's organization, as it is now (its Invites list included).")
    async def organization(self, info: Info) -> Organization | None:
        return await visible_organization(info, self.invitation.organization_id)


@strawberry.type(description="You are a member now.")
class AcceptInvitationPayload:
    organization: Organization = strawberry.field(description="The organization you joined.")
    role: OrganizationRoleEnum = strawberry.field(description="Your organization role there.")


@strawberry.type(description="The invitation is declined.")
class DeclineInvitationPayload:
    invitation: InvitationPreview = strawberry.field(description="The declined invitation.")


InviteMembersResult = result_union("InviteMembersResult", InviteMembersPayload)
ResendInvitationResult = result_union("ResendInvitationResult", InvitationPayload, TooManyAttemptsError)
RevokeInvitationResult = result_union("RevokeInvitationResult", InvitationPayload)
AcceptInvitationResult = result_union("AcceptInvitationResult", AcceptInvitationPayload)
DeclineInvitationResult = result_union("DeclineInvitationResult", DeclineInvitationPayload)


def _invitation_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "Invitation", "invitationId")


@strawberry.type
class InvitationMutations:
    @mutation(
        "Invite people by email (Organization Admins of Team organizations). Each address gets its own "
        "outcome; good addresses are invited even when others are refused."
    )
    async def invite_members(
        self, info: Info, input: Annotated[InviteMembersInput, INPUT]
    ) -> InviteMembersResult:
        actor = info.context.actor()
        organization_id = org_id(input.organization_id)
        grants = [
            invitations.ProjectGrant(node_id(p.project_id, "Project", "projects"), p.role)
            for p in input.projects
        ]
        async with info.context.transaction() as session:
            results = await invitations.invite_members(
                session,
                actor,
                organization_id,
                emails=input.emails,
                role=OrganizationRole(input.role),
                projects=grants,
                settings=info.context.settings,
            )
        return InviteMembersPayload(
            organization_id=organization_id, outcomes=[outcome(result) for result in results]
        )

    @mutation(
        "Send a pending or expired invitation again with a new link and a new expiry; the old link stops "
        "working. At most 3 resends per invitation a day (Organization Admins)."
    )
    async def resend_invitation(
        self, info: Info, input: Annotated[InvitationIdInput, INPUT]
    ) -> ResendInvitationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            details = await invitations.resend_invitation(
                session, actor, _invitation_id(input.invitation_id), settings=info.context.settings
            )
        return InvitationPayload(invitation=Invitation.from_details(details))

    @mutation(
        "Withdraw an invitation that has not been answered; its link stops working (Organization Admins)."
    )
    async def revoke_invitation(
        self, info: Info, input: Annotated[InvitationIdInput, INPUT]
    ) -> RevokeInvitationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            details = await invitations.revoke_invitation(session, actor, _invitation_id(input.invitation_id))
        return InvitationPayload(invitation=Invitation.from_details(details))

    @mutation(
        "Accept an invitation: you join the organization and its projects with the invited roles. Needs a "
        "signed-in user whose email is the invited address (new people sign up first). A link works once."
    )
    async def accept_invitation(
        self, info: Info, input: Annotated[InvitationTokenInput, INPUT]
    ) -> AcceptInvitationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            accepted = await respond.accept_invitation(session, actor, input.token)
        return AcceptInvitationPayload(
            organization=Organization.from_model(accepted.organization, accepted.role), role=accepted.role
        )

    @mutation("Decline an invitation sent to the signed-in user's email address.")
    async def decline_invitation(
        self, info: Info, input: Annotated[InvitationTokenInput, INPUT]
    ) -> DeclineInvitationResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            preview = await respond.decline_invitation(session, actor, input.token)
        return DeclineInvitationPayload(invitation=InvitationPreview.from_model(preview))

"""Invitations as GraphQL shows them: the admin's view (a Relay node), the invitee's preview, outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app import clock
from app.domain.invitations import service as invitations
from app.domain.invitations.models import InvitationProject, InvitationState
from app.domain.invitations.queries import InvitationDetails, get_invitation
from app.domain.invitations.respond import InvitationPreview as PreviewModel
from app.domain.notifications.models import OutboxState
from app.graphql.context import Info
from app.graphql.enums import OrganizationRoleEnum
from app.graphql.errors import Error, ForbiddenError, describe_enum
from app.graphql.types import ProjectAssignment, User, _visible

InvitationStateEnum = describe_enum(
    InvitationState,
    "Where an invitation stands.",
    PENDING="Sent and not answered yet; the link works until it expires.",
    ACCEPTED="The invitee accepted and became a member.",
    REJECTED="The invitee declined.",
    REVOKED="An Organization Admin withdrew it; the link no longer works.",
    EXPIRED="Not answered in time; an Organization Admin can resend it.",
)

OutboxStateEnum = describe_enum(
    OutboxState,
    "Delivery of an email the product sends.",
    QUEUED="Waiting to be sent (or to be retried after a temporary failure).",
    SENT="Handed to the mail server (or, without one, written to the service's log).",
    FAILED="Could not be delivered; resend the invitation after checking the address.",
    CANCELLED="Withdrawn before delivery, because its link stopped working (resent or revoked).",
)


@strawberry.type(description="An invitation to join an organization, as its Organization Admins see it.")
class Invitation(relay.Node):
    invitation_id: relay.NodeID[str]
    inviter_id: strawberry.Private[str | None]
    grants: strawberry.Private[list[InvitationProject]]
    email: str = strawberry.field(description="The invited address, as it was entered.")
    role: OrganizationRoleEnum = strawberry.field(description="The organization role accepting gives.")  # type: ignore[valid-type]
    state: InvitationStateEnum = strawberry.field(description="Where the invitation stands.")  # type: ignore[valid-type]
    created_at: datetime = strawberry.field(description="When the invitation was first sent (UTC).")
    sent_at: datetime = strawberry.field(
        description="When its current link was sent: creation or last resend (UTC)."
    )
    expires_at: datetime = strawberry.field(description="When its current link stops working (UTC).")
    responded_at: datetime | None = strawberry.field(
        description="When the invitee accepted or declined (UTC); null before."
    )
    email_delivery: OutboxStateEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="Delivery of the email with the current link; FAILED means the invitee never got it."
    )

    @classmethod
    def from_details(cls, details: InvitationDetails) -> Invitation:
        invitation = details.invitation
        return cls(
            invitation_id=invitation.id,
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

        return await _visible(info, lookup, node_ids, required)


@strawberry.type(description="The organization's Invites list; Organization Admins only.")
class InvitationList:
    items: strawberry.Private[list[InvitationDetails]]

    @relay.connection(
        relay.ListConnection[Invitation],
        description="Pending invitations, and those declined or expired in the last 30 days; newest first.",
    )
    def invitations(self) -> Iterable[Invitation]:
        return [Invitation.from_details(details) for details in self.items]


InvitationsResult = Annotated[
    InvitationList | ForbiddenError,
    strawberry.union(
        "InvitationsResult",
        description="The Invites list, or FORBIDDEN for anyone but an Organization Admin.",
    ),
]


@strawberry.type(
    description="What the accept page shows about the invitation behind a link; nothing else of the organization."
)
class InvitationPreview:
    organization_name: str = strawberry.field(description="The name of the organization you are invited to.")
    invited_by_name: str | None = strawberry.field(
        description="The inviter's display name, if they have one."
    )
    invited_by_email: str | None = strawberry.field(
        description="The inviter's email address; null if that account is gone."
    )
    role: OrganizationRoleEnum = strawberry.field(description="The organization role accepting gives.")  # type: ignore[valid-type]
    state: InvitationStateEnum = strawberry.field(  # type: ignore[valid-type]
        description="Where the invitation stands; only PENDING ones can be answered."
    )
    expires_at: datetime = strawberry.field(description="When the link stops working (UTC).")

    @classmethod
    def from_model(cls, preview: PreviewModel) -> InvitationPreview:
        return cls(
            organization_name=preview.organization_name,
            invited_by_name=preview.inviter_name,
            invited_by_email=preview.inviter_email,
            role=preview.role,
            state=preview.state,
            expires_at=preview.expires_at,
        )


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

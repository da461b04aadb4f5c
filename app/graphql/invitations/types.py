"""Invitation states and what an invitee sees before answering."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain.invitations.models import InvitationState
from app.domain.invitations.respond import InvitationPreview as PreviewModel
from app.domain.notifications.models import OutboxState
from app.graphql.enums import OrganizationRoleEnum
from app.graphql.errors import describe_enum

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


@strawberry.type(
    description="What the accept page shows about the invitation behind a link; nothing else of the organization."
)
class InvitationPreview:
    organization_name: str = strawberry.field(description="The name of the organization you are invited to.")
    email: str = strawberry.field(
        description="The invited address: sign in or sign up with it to accept (only the link's holder sees it)."
    )
    invited_by_name: str | None = strawberry.field(
        description="The inviter's display name, if they have one."
    )
    invited_by_email: str | None = strawberry.field(
        description="The inviter's email address; null if that account is gone."
    )
    role: OrganizationRoleEnum = strawberry.field(description="The organization role accepting gives.")
    state: InvitationStateEnum = strawberry.field(
        description="Where the invitation stands; only PENDING ones can be answered."
    )
    expires_at: datetime = strawberry.field(description="When the link stops working (UTC).")

    @classmethod
    def from_model(cls, preview: PreviewModel) -> InvitationPreview:
        return cls(
            organization_name=preview.organization_name,
            email=preview.email,
            invited_by_name=preview.inviter_name,
            invited_by_email=preview.inviter_email,
            role=preview.role,
            state=preview.state,
            expires_at=preview.expires_at,
        )


TOKEN = strawberry.argument(description="The token from the invitation email's link.")

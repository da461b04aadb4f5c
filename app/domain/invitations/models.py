"""Invitations and the project roles they grant.

EXPIRED is never stored: a PENDING invitation whose ``expires_at`` has passed reads as EXPIRED
(see ``Invitation.state_at``), so no job has to run for an invitation to expire, and a resend
(new token, new expiry) makes it PENDING again without rewriting its history.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow
from app.domain.orgs.models import OrganizationRole
from app.domain.projects.models import ProjectRole


class InvitationState(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"  # the invitee declined
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"  # derived from expires_at, never stored


class Invitation(SQLModel, table=True):
    """One address invited to one organization; the link's token is kept only as its SHA-256."""

    id: str = Field(default_factory=lambda: new_id("inv"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    email: str = Field(max_length=254)
    email_normalized: str = Field(max_length=254, index=True)
    role: OrganizationRole = Field(sa_type=enum_column(OrganizationRole))
    state: InvitationState = Field(default=InvitationState.PENDING, sa_type=enum_column(InvitationState))
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: str | None = Field(default=None, foreign_key="user.id", max_length=40, ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # the latest (re)send
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # resends are limited per invitation and day: a fixed 24-hour window from its first resend
    resend_window_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resends_in_window: int = 0
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # accepted or declined
    responded_by: str | None = Field(default=None, foreign_key="user.id", max_length=40, ondelete="SET NULL")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, foreign_key="user.id", max_length=40, ondelete="SET NULL")
    # the email carrying the current link: withdrawn if still queued when the link stops working
    message_id: str | None = Field(
        default=None, foreign_key="outbox_message.id", max_length=40, ondelete="SET NULL"
    )

    def state_at(self, now: datetime) -> InvitationState:
        """The state as the product shows it: PENDING past its expiry is EXPIRED."""
        if self.state is InvitationState.PENDING and self.expires_at <= now:
            return InvitationState.EXPIRED
        return self.state


class InvitationProject(SQLModel, table=True):
    """A project role that accepting the invitation grants (MEMBER invitations only)."""

    __tablename__ = "invitation_project"

    invitation_id: str = Field(
        foreign_key="invitation.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    project_id: str = Field(foreign_key="project.id", primary_key=True, max_length=40, ondelete="CASCADE")
    role: ProjectRole = Field(sa_type=enum_column(ProjectRole))

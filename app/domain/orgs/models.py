"""Organizations and their members."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class OrganizationType(Enum):
    PERSONAL = "PERSONAL"
    TEAM = "TEAM"


class OrganizationRole(Enum):
    """A member's role in the whole organization; project roles are given per project."""

    ORGANIZATION_ADMIN = "ORGANIZATION_ADMIN"
    MEMBER = "MEMBER"


class Organization(SQLModel, table=True):
    id: str = Field(default_factory=lambda: new_id("org"), primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    type: OrganizationType = Field(sa_type=enum_column(OrganizationType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    type_changed_by: str | None = Field(default=None, max_length=40)
    type_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Membership(SQLModel, table=True):
    """A user's membership of an organization, with the organization-level role."""

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    user_id: str = Field(
        foreign_key="user.id", primary_key=True, index=True, max_length=40, ondelete="CASCADE"
    )
    role: OrganizationRole = Field(sa_type=enum_column(OrganizationRole))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    # the Members page's order: a page is an index range scan, whatever the organization's size
    __table_args__ = (Index("ix_membership_org_joined", "organization_id", "created_at", "user_id"),)

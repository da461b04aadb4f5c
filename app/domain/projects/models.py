"""Projects, their members and their per-model rate limits."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class ProjectRole(Enum):
    PROJECT_ADMIN = "PROJECT_ADMIN"
    PROJECT_MEMBER = "PROJECT_MEMBER"


class Project(SQLModel, table=True):
    id: str = Field(default_factory=lambda: new_id("proj"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    name: str = Field(max_length=100)
    is_default: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ProjectMembership(SQLModel, table=True):
    __tablename__ = "project_membership"

    project_id: str = Field(foreign_key="project.id", primary_key=True, max_length=40, ondelete="CASCADE")
    user_id: str = Field(
        foreign_key="user.id", primary_key=True, index=True, max_length=40, ondelete="CASCADE"
    )
    role: ProjectRole = Field(sa_type=enum_column(ProjectRole))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProjectRateLimit(SQLModel, table=True):
    """A project's own ceiling for one model, below the organization's; None means no own limit."""

    __tablename__ = "project_rate_limit"

    project_id: str = Field(foreign_key="project.id", primary_key=True, max_length=40, ondelete="CASCADE")
    model_id: str = Field(primary_key=True, max_length=100)
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=40)

"""API keys: only the SHA-256 of the secret is kept."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, new_id, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=lambda: new_id("key"), primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=40, ondelete="CASCADE")
    name: str = Field(max_length=100)
    secret_hash: str = Field(max_length=64, unique=True)
    # shown in lists as "csk-ab12…wxyz"; neither part is enough to use the key
    prefix: str = Field(max_length=12)
    last_four: str = Field(max_length=4)
    created_by: str | None = Field(default=None, foreign_key="user.id", max_length=40, ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=40)

"""What the fleet keeps in the database: each organization's change version, and the admission keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, utcnow


class OrganizationVersion(SQLModel, table=True):
    """Bumped in the transaction of every change to what admission depends on (see fleet.versions)."""

    __tablename__ = "organization_version"

    organization_id: str = Field(primary_key=True, max_length=40)
    # on SQLite a number that grows with every commit (writes are serialized), so one poll finds
    # every change since the last; on PostgreSQL a per-organization counter (NOTIFY tells the news)
    version: int = Field(default=1, sa_type=BigInteger, index=True)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AdmissionKey(SQLModel, table=True):
    """A key signing admission ids, created once and shared by every process on the database."""

    __tablename__ = "admission_key"

    id: int | None = Field(default=None, primary_key=True)
    secret: str = Field(max_length=100)  # URL-safe base64 of 32 random bytes
    created_at: datetime = Field(sa_type=UTCDateTime)
    # set when a newer key replaced it: ids it signed keep verifying for the admission lifetime
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Job leases: one replica at a time runs a given job."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime


class JobLease(SQLModel, table=True):
    """Who runs a job now and until when; a lease that ran out may be taken by anyone."""

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=100)
    expires_at: datetime = Field(sa_type=UTCDateTime)

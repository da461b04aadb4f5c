"""Usage as the fleet reports it: one row per request, and per-minute and per-hour roll-ups for the graphs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime


class UsageRecord(SQLModel, table=True):
    """One inference request's tokens, priced exactly.

    The fleet's request id makes a repeat count once within an organization (another organization's
    id never shadows it), and the admission's nonce makes one admission bill one request.
    """

    __tablename__ = "usage_record"

    organization_id: str = Field(primary_key=True, max_length=40)
    request_id: str = Field(primary_key=True, max_length=100)
    # the nonce of the admission the request ran under (null for records stored before it was kept)
    admission_nonce: str | None = Field(default=None, max_length=40)
    project_id: str = Field(max_length=40)
    api_key_id: str = Field(max_length=40)
    model_id: str = Field(max_length=100)
    plan: str = Field(max_length=16)
    input_tokens: int = Field(sa_type=BigInteger)
    output_tokens: int = Field(sa_type=BigInteger)
    # list price of the tokens, and what was billed to credits (0 under a subscription or the free tier)
    cost_nanos: int = Field(sa_type=BigInteger)
    billed_nanos: int = Field(sa_type=BigInteger)
    recorded_at: datetime = Field(sa_type=UTCDateTime)

    __table_args__ = (
        Index("ix_usage_record_org_time", "organization_id", "recorded_at"),
        Index("ux_usage_record_admission", "organization_id", "admission_nonce", unique=True),
    )


class UsageRollup(SQLModel):
    """Usage summed per time bucket, key and model: what the console's graphs read.

    Written in the same transaction as the records, so the graphs are exact as soon as a usage
    report is acknowledged. Two resolutions: minutes for short ranges, hours for everything longer
    (a 30-day graph then reads 720 rows per series instead of 43,200).
    """

    organization_id: str = Field(max_length=40)
    project_id: str = Field(sa_type=String(40))
    api_key_id: str = Field(sa_type=String(40))
    model_id: str = Field(sa_type=String(100))
    requests: int = Field(default=0, sa_type=BigInteger)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    billed_nanos: int = Field(default=0, sa_type=BigInteger)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)


def _rollup_key(bucket: str) -> tuple[PrimaryKeyConstraint]:
    # organization, then time first: a graph reads one organization's range of buckets
    return (PrimaryKeyConstraint("organization_id", bucket, "project_id", "api_key_id", "model_id"),)


class UsageMinute(UsageRollup, table=True):
    """Usage per minute."""

    __tablename__ = "usage_minute"
    __table_args__ = _rollup_key("minute")

    # minutes since the Unix epoch (UTC): integer buckets that sum into wider ones on any database
    minute: int = Field(sa_column=Column(Integer, autoincrement=False, nullable=False))


class UsageHour(UsageRollup, table=True):
    """Usage per hour (hours since the Unix epoch, UTC)."""

    __tablename__ = "usage_hour"
    __table_args__ = _rollup_key("hour")

    hour: int = Field(sa_column=Column(Integer, autoincrement=False, nullable=False))

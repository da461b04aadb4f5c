"""Usage as the fleet reports it: one row per request, and per-minute roll-ups for the graphs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime


class UsageRecord(SQLModel, table=True):
    """One inference request's tokens, priced exactly; the fleet's request id makes a repeat count once."""

    __tablename__ = "usage_record"

    request_id: str = Field(primary_key=True, max_length=100)
    organization_id: str = Field(max_length=40)
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

    __table_args__ = (Index("ix_usage_record_org_time", "organization_id", "recorded_at"),)


class UsageMinute(SQLModel, table=True):
    """Usage summed per minute, key and model: what the console's graphs read."""

    __tablename__ = "usage_minute"

    organization_id: str = Field(primary_key=True, max_length=40)
    # minutes since the Unix epoch (UTC): integer buckets that sum into hours and days on any database
    minute: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    project_id: str = Field(sa_column=Column(String(40), primary_key=True))
    api_key_id: str = Field(sa_column=Column(String(40), primary_key=True))
    model_id: str = Field(sa_column=Column(String(100), primary_key=True))
    requests: int = Field(default=0, sa_type=BigInteger)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    billed_nanos: int = Field(default=0, sa_type=BigInteger)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)

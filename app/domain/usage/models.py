"""Usage as the fleet reports it: one row per request, and the per-minute, hour and day roll-ups for the graphs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Text
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


class UsageFigures(SQLModel):
    """What every roll-up sums: requests, tokens and money of an organization's usage."""

    organization_id: str = Field(max_length=40)
    requests: int = Field(default=0, sa_type=BigInteger)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    billed_nanos: int = Field(default=0, sa_type=BigInteger)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)


class UsageRollup(UsageFigures):
    """Usage summed per time bucket, project, key and model: what the console's graphs read.

    A usage group commit leaves its sums in usage_rollup_pending, in the same transaction as its
    records; a fold adds them here within a second or so (app.domain.usage.pending). Minutes serve
    short ranges, hours and days longer ones; hours and days are also kept summed over keys (by
    model) and over models (by key), so that a graph of a big organization reads its grouping's rows
    only (100 keys x 4 models: 720 rows per model for 30 days of hours, instead of 288,000).
    """

    project_id: str = Field(sa_type=String(40))
    api_key_id: str = Field(sa_type=String(40))
    model_id: str = Field(sa_type=String(100))


class UsageByModel(UsageFigures):
    """Usage summed over the keys: per time bucket, project and model."""

    project_id: str = Field(sa_type=String(40))
    model_id: str = Field(sa_type=String(100))


class UsageByKey(UsageFigures):
    """Usage summed over the models: per time bucket and key (and the key's project)."""

    project_id: str = Field(sa_type=String(40))
    api_key_id: str = Field(sa_type=String(40))


def _bucket(name: str) -> Any:
    # buckets count from the Unix epoch (UTC): integers that sum into wider ones on any database
    return Field(sa_column=Column(name, Integer, autoincrement=False, nullable=False))


def _rollup_key(bucket: str, *dimensions: str) -> tuple[PrimaryKeyConstraint]:
    # organization, then time first: a graph reads one organization's range of buckets
    return (PrimaryKeyConstraint("organization_id", bucket, *dimensions),)


_ALL = ("project_id", "api_key_id", "model_id")
# the grouped column right after the bucket: a graph by model (or key) reads the key's order, no sorting
_BY_MODEL = ("model_id", "project_id")
_BY_KEY = ("api_key_id", "project_id")


class UsageMinute(UsageRollup, table=True):
    """Usage per minute (minutes since the Unix epoch, UTC)."""

    __tablename__ = "usage_minute"
    __table_args__ = _rollup_key("minute", *_ALL)
    minute: int = _bucket("minute")


class UsageHour(UsageRollup, table=True):
    """Usage per hour (hours since the Unix epoch, UTC)."""

    __tablename__ = "usage_hour"
    __table_args__ = _rollup_key("hour", *_ALL)
    hour: int = _bucket("hour")


class UsageHourByModel(UsageByModel, table=True):
    """Usage per hour and model."""

    __tablename__ = "usage_hour_by_model"
    __table_args__ = _rollup_key("hour", *_BY_MODEL)
    hour: int = _bucket("hour")


class UsageHourByKey(UsageByKey, table=True):
    """Usage per hour and key."""

    __tablename__ = "usage_hour_by_key"
    __table_args__ = _rollup_key("hour", *_BY_KEY)
    hour: int = _bucket("hour")


class UsageDay(UsageRollup, table=True):
    """Usage per UTC day (days since the Unix epoch)."""

    __tablename__ = "usage_day"
    __table_args__ = _rollup_key("day", *_ALL)
    day: int = _bucket("day")


class UsageDayByModel(UsageByModel, table=True):
    """Usage per UTC day and model."""

    __tablename__ = "usage_day_by_model"
    __table_args__ = _rollup_key("day", *_BY_MODEL)
    day: int = _bucket("day")


class UsageDayByKey(UsageByKey, table=True):
    """Usage per UTC day and key."""

    __tablename__ = "usage_day_by_key"
    __table_args__ = _rollup_key("day", *_BY_KEY)
    day: int = _bucket("day")


class UsageRollupPending(SQLModel, table=True):
    """One usage group's sums, committed with its records and not yet folded into the roll-ups.

    `deltas` is a JSON array of [organization, project, key, model, *SUMMED] rows (integers exact at
    any size); `minute` is when the group was stored (minutes since the Unix epoch, UTC).
    """

    __tablename__ = "usage_rollup_pending"

    # BIGINT on PostgreSQL (a group per row: 2**31 would run out); SQLite's rowid is 64-bit anyway
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    minute: int = Field(sa_column=Column(Integer, nullable=False))
    deltas: str = Field(sa_column=Column(Text, nullable=False))

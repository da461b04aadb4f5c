"""The outbox: every email the product sends, committed with the change that caused it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import JSON, Index, Text
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class OutboxState(Enum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"
    # withdrawn before delivery, e.g. an invitation email whose link a resend or revoke made useless
    CANCELLED = "CANCELLED"


class DeliveryChannel(Enum):
    SMTP = "smtp"
    LOGGED = "logged"  # no SMTP configured: the log line (and this row) was the delivery


class OutboxMessage(SQLModel, table=True):
    """One email to one recipient; QUEUED until the mail worker delivers it or gives up."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "state", "next_attempt_at"),)

    id: str = Field(default_factory=lambda: new_id("mail"), primary_key=True, max_length=40)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=255)
    body_text: str = Field(sa_type=Text)
    body_html: str | None = Field(default=None, sa_type=Text)
    state: OutboxState = Field(default=OutboxState.QUEUED, sa_type=enum_column(OutboxState))
    attempts: int = 0
    # when the worker may (re)try; while a worker holds a claim it is the end of that claim's lease
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_via: DeliveryChannel | None = Field(default=None, sa_type=enum_column(DeliveryChannel))
    # secrets of the body (an invitation token), sealed (notifications/sealing.py): the body holds
    # placeholders; forgotten (REDACTED) once sent over SMTP, failed or withdrawn
    secrets: list[str] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

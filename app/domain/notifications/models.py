"""The outbox: every email the product sends, committed with the change that caused it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint
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
    # the template in app/templates/email that rendered it
    template: str | None = Field(default=None, max_length=64)
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


class Notice(Enum):
    """The kinds of billing notice an organization sends; each recipient chooses which they get."""

    RECEIPTS = "RECEIPTS"
    LOW_BALANCE = "LOW_BALANCE"
    CREDITS_EXPIRING = "CREDITS_EXPIRING"
    SPEND_ALERTS = "SPEND_ALERTS"
    FAILED_CHARGES = "FAILED_CHARGES"
    SUBSCRIPTION_CHANGES = "SUBSCRIPTION_CHANGES"


class BillingContact(SQLModel, table=True):
    """An address that gets billing notices without being a member (e.g. accounts payable)."""

    __tablename__ = "billing_contact"
    __table_args__ = (UniqueConstraint("organization_id", "email_normalized"),)

    id: str = Field(default_factory=lambda: new_id("bc"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    email: str = Field(max_length=254)
    email_normalized: str = Field(max_length=254)
    notices: list[str] = Field(default_factory=list, sa_type=JSON)  # Notice values
    added_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MemberNoticePreference(SQLModel, table=True):
    """The notices an Organization Admin turned off for themselves in one organization."""

    __tablename__ = "member_notice_preference"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    user_id: str = Field(foreign_key="user.id", primary_key=True, max_length=40, ondelete="CASCADE")
    muted: list[str] = Field(default_factory=list, sa_type=JSON)  # Notice values
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertSettings(SQLModel, table=True):
    """An organization's own low-balance alert level (None: the service's default)."""

    __tablename__ = "alert_settings"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    low_balance_alert_nanos: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SpendAlert(SQLModel, table=True):
    """An amount of spend per calendar month (UTC) whose crossing the billing recipients hear of once."""

    __tablename__ = "spend_alert"
    __table_args__ = (UniqueConstraint("organization_id", "amount_nanos"),)

    id: str = Field(default_factory=lambda: new_id("sa"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    amount_nanos: int = Field(sa_type=BigInteger)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SpendAlertFiring(SQLModel, table=True):
    """That an alert fired in a month: the primary key makes it fire once per month, whoever claims it."""

    __tablename__ = "spend_alert_firing"

    alert_id: str = Field(foreign_key="spend_alert.id", primary_key=True, max_length=40, ondelete="CASCADE")
    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    spend_nanos: int = Field(sa_type=BigInteger)
    fired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

"""Receipts: a numbered, frozen record of each succeeded charge, as the customer's accountant needs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow
from app.domain.billing.models import ChargePurpose


class ReceiptCounter(SQLModel, table=True):
    """The last receipt number of an organization: incremented in the settling transaction, so gapless."""

    __tablename__ = "receipt_counter"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    last_number: int = 0


class Receipt(SQLModel, table=True):
    """What a succeeded charge paid, with the card and billing address as they were then (never updated)."""

    __table_args__ = (UniqueConstraint("organization_id", "number"),)

    id: str = Field(default_factory=lambda: new_id("rcpt"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    number: int  # 1, 2, 3, … per organization, without gaps
    charge_id: str = Field(foreign_key="charge.id", unique=True, max_length=40)
    purpose: ChargePurpose = Field(sa_type=enum_column(ChargePurpose))
    description: str = Field(max_length=255)
    amount_cents: int
    currency: str = Field(max_length=3)
    # a subscription charge's paid period; None for credits
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    card_brand: str | None = Field(default=None, max_length=32)
    card_last4: str | None = Field(default=None, max_length=4)
    organization_name: str = Field(max_length=100)
    billing_address: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    provider_charge_ref: str | None = Field(default=None, max_length=255)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # when the receipt email was queued to the recipients who chose receipts (None: not yet)
    emailed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DocumentLinkKey(SQLModel, table=True):
    """The key signing document links when DOCUMENT_LINK_KEY is unset: made once, shared by every process."""

    __tablename__ = "document_link_key"

    id: int = Field(default=1, primary_key=True)  # one row: two processes starting at once agree on it
    secret: str = Field(max_length=100)  # URL-safe base64 of 32 random bytes
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

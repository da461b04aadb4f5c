"""Webhook events already handled, and the refunds and disputes providers reported on charges."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, new_id, utcnow


class ProcessedWebhookEvent(SQLModel, table=True):
    """A provider's event, inserted in the same transaction as its effect: a redelivery finds it and stops."""

    __tablename__ = "processed_webhook_event"

    event_id: str = Field(primary_key=True, max_length=255)
    provider: str = Field(max_length=64)
    event_type: str = Field(max_length=100)
    # what handling it did, for support: "charge ch_… SUCCEEDED", "no matching charge", …
    outcome: str = Field(max_length=300)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChargeRefund(SQLModel, table=True):
    """Money the provider reports it gave back on one of our charges."""

    __tablename__ = "charge_refund"

    id: str = Field(default_factory=lambda: new_id("rf"), primary_key=True, max_length=40)
    charge_id: str = Field(foreign_key="charge.id", index=True, max_length=40, ondelete="CASCADE")
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    # None when the provider's event names no refund (Stripe's charge.refunded carries only the total)
    provider_refund_ref: str | None = Field(default=None, max_length=255)
    amount_cents: int
    currency: str = Field(max_length=3)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChargeDispute(SQLModel, table=True):
    """A cardholder's bank disputing one of our charges: the amount is held until the dispute ends."""

    __tablename__ = "charge_dispute"

    id: str = Field(default_factory=lambda: new_id("dp"), primary_key=True, max_length=40)
    charge_id: str = Field(foreign_key="charge.id", index=True, max_length=40, ondelete="CASCADE")
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    provider_dispute_ref: str = Field(max_length=255, unique=True)
    amount_cents: int
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=64)
    status: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

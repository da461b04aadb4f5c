"""Webhook events already handled, and the refunds and disputes providers reported on charges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, new_id, utcnow


class ProcessedWebhookEvent(SQLModel, table=True):
    """A provider's event, inserted in the same transaction as its effect: a redelivery finds it and stops.

    An event whose handler raised is kept too, as failed, in a transaction of its own: the provider's
    redelivery or ``python -m app.cli replay-webhook`` runs its handler again from the stored payload.
    """

    __tablename__ = "processed_webhook_event"

    event_id: str = Field(primary_key=True, max_length=255)
    provider: str = Field(max_length=64)
    event_type: str = Field(max_length=100)
    # what handling it did, for support: "charge ch_… SUCCEEDED", "no matching charge", …
    outcome: str = Field(max_length=300)
    failed: bool = False
    # the event as its provider's plugin verified it ({"id", "type", "data"}), for replays; None for
    # events handled before payloads were kept (see app.domain.provider_events.service.stored_payload)
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChargeRefund(SQLModel, table=True):
    """Money the provider reports it gave back (or is giving back) on one of our charges, as it stands."""

    __tablename__ = "charge_refund"

    id: str = Field(default_factory=lambda: new_id("rf"), primary_key=True, max_length=40)
    charge_id: str = Field(foreign_key="charge.id", index=True, max_length=40, ondelete="CASCADE")
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    # the provider's refund (Stripe's re_…); None only for refunds recorded before refunds were tracked one by one
    provider_refund_ref: str | None = Field(default=None, max_length=255, unique=True)
    amount_cents: int
    currency: str = Field(max_length=3)
    # the provider's word: pending, succeeded, failed, canceled (requires_action: pending on the customer)
    status: str = Field(default="succeeded", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChargeDispute(SQLModel, table=True):
    """A cardholder's bank disputing one of our charges: what is left of its credits is held until it ends."""

    __tablename__ = "charge_dispute"

    id: str = Field(default_factory=lambda: new_id("dp"), primary_key=True, max_length=40)
    charge_id: str = Field(foreign_key="charge.id", index=True, max_length=40, ondelete="CASCADE")
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    provider_dispute_ref: str = Field(max_length=255, unique=True)
    amount_cents: int
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=64)
    status: str = Field(max_length=64)
    # the grant the disputed charge bought, and how much of it the dispute holds (DISPUTE_HOLD entry)
    grant_id: str | None = Field(default=None, foreign_key="credit_grant.id", max_length=40)
    held_nanos: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""An organization's billing account at the payment provider, its cards, and every charge made."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class BillingAccount(SQLModel, table=True):
    """The organization as a customer of the payment provider, with its billing address."""

    __tablename__ = "billing_account"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    # "" once the provider deleted the customer: a new one is created on the next need
    customer_ref: str = Field(max_length=255)
    # the deleted customer's reference, until a new one replaces it (it makes the new one's key differ)
    customer_ref_forgotten: str | None = Field(default=None, max_length=255)
    provider: str = Field(max_length=64)
    address_name: str | None = Field(default=None, max_length=200)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    address_city: str | None = Field(default=None, max_length=100)
    address_postal_code: str | None = Field(default=None, max_length=20)
    address_state: str | None = Field(default=None, max_length=100)
    address_country: str | None = Field(default=None, max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PaymentMethod(SQLModel, table=True):
    """A card on file: only the provider's reference, brand, last four digits and expiry are kept."""

    __tablename__ = "payment_method"

    id: str = Field(default_factory=lambda: new_id("pm"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    provider_ref: str = Field(max_length=255)
    brand: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    exp_month: int
    exp_year: int
    is_default: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChargeStatus(Enum):
    PENDING = "PENDING"  # asked of the provider, outcome not yet known (a timeout, a crash): settled by retry or webhook
    PROCESSING = "PROCESSING"  # the provider accepted it and tells the outcome later (webhook, or read back)
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    # the cardholder must authenticate it (3-D Secure): open until the provider says succeeded, or given up
    REQUIRES_ACTION = "REQUIRES_ACTION"
    FAILED = "FAILED"


class ChargePurpose(Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    SETTLEMENT = "SETTLEMENT"
    SUBSCRIPTION = "SUBSCRIPTION"


class Charge(SQLModel, table=True):
    """One charge of an organization's payment method: the billing history.

    The idempotency key is derived from what the charge pays (a purchase, a recharge attempt, a
    month's settlement, a subscription period), so that paying the same thing twice is impossible.
    """

    id: str = Field(default_factory=lambda: new_id("ch"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    purpose: ChargePurpose = Field(sa_type=enum_column(ChargePurpose))
    amount_cents: int
    currency: str = Field(default="usd", max_length=3)
    description: str = Field(max_length=255)
    idempotency_key: str = Field(max_length=200, unique=True)
    # what the charge pays for, for the handler that applies a success (e.g. the credits to grant)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: ChargeStatus = Field(default=ChargeStatus.PENDING, sa_type=enum_column(ChargeStatus))
    provider_charge_ref: str | None = Field(default=None, max_length=255, index=True)
    decline_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=500)
    # the card the first attempt named: a retry under the same key must name it again, whatever the default now
    payment_method_ref: str | None = Field(default=None, max_length=255)
    attempts: int = 0
    # when the retry job may ask the provider again (back-off); None: at its next run
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

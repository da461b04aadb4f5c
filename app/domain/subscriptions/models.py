"""Subscriptions and the places taken in each tier.

An organization holds at most one live subscription per model: a partial unique index over the live
states enforces it on SQLite and PostgreSQL alike. A tier's places are counted in `tier_capacity`,
changed only by conditional UPDATEs, so that two organizations racing for the last place cannot both
get it.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class SubscriptionState(Enum):
    # the first month's charge is being processed: the subscription holds its place, covers nothing yet
    INCOMPLETE = "INCOMPLETE"
    ACTIVE = "ACTIVE"
    # the renewal is unpaid (its charge failed: retried daily; or it waits for the cardholder's authentication);
    # the subscription still covers the model meanwhile, and the new period starts only once it is paid
    PAST_DUE = "PAST_DUE"
    CANCELED = "CANCELED"


class EndReason(Enum):
    CANCELED = "CANCELED"  # an Organization Admin canceled it
    PAYMENT_FAILED = "PAYMENT_FAILED"  # the first charge failed, or every retry of a renewal did
    MODEL_DEPRECATED = "MODEL_DEPRECATED"
    TIER_WITHDRAWN = "TIER_WITHDRAWN"  # the tier left the catalog: it ends at the period end


LIVE_STATES = (SubscriptionState.INCOMPLETE, SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE)
# the states in which the subscription, not credits, pays for the model's usage
COVERING_STATES = (SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE)
_LIVE_SQL = "state IN ('INCOMPLETE', 'ACTIVE', 'PAST_DUE')"


class Subscription(SQLModel, table=True):
    """An organization's monthly plan for one model at one tier.

    Period n runs from `billing_anchor` plus n-1 months to plus n months (the day clamped to the
    month's length), cut short at the model's deprecation. `pending_charge_key` names the one charge
    in flight for it (first month, upgrade or renewal); its outcome is applied under this row's lock.
    """

    __table_args__ = (
        Index(
            "uq_subscription_live_model",
            "organization_id",
            "model_id",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
        Index("ix_subscription_state_due", "state", "next_charge_at"),
        # the list's order (newest first): a page is an index range scan, whatever the history's length
        Index("ix_subscription_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(default_factory=lambda: new_id("sub"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    model_id: str = Field(max_length=100)
    tier_id: str = Field(max_length=64)
    state: SubscriptionState = Field(sa_type=enum_column(SubscriptionState))
    cancel_at_period_end: bool = False
    billing_anchor: datetime = Field(sa_type=UTCDateTime)
    period_number: int = 1
    current_period_start: datetime = Field(sa_type=UTCDateTime)
    current_period_end: datetime = Field(sa_type=UTCDateTime)
    # when the renewal job charges next: the period end, then a day after each failed attempt
    next_charge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_renewals: int = 0
    # a cheaper tier taking over at the period end; its place is held from the moment it is chosen
    scheduled_tier_id: str | None = Field(default=None, max_length=64)
    # a dearer tier waiting for its pro-rata charge; its place is held meanwhile
    pending_tier_id: str | None = Field(default=None, max_length=64)
    pending_charge_key: str | None = Field(default=None, max_length=200)
    upgrades: int = 0
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    canceled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: EndReason | None = Field(default=None, sa_type=enum_column(EndReason))

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    def held_tiers(self) -> list[str]:
        """Every tier in which this subscription holds a place (one place each)."""
        return [t for t in (self.tier_id, self.scheduled_tier_id, self.pending_tier_id) if t is not None]


class TierCapacity(SQLModel, table=True):
    """Places taken in one tier of one model, and staff's capacity for it (else the catalog's)."""

    __tablename__ = "tier_capacity"
    __table_args__ = (CheckConstraint("taken >= 0", name="ck_tier_capacity_taken"),)

    model_id: str = Field(primary_key=True, max_length=100)
    tier_id: str = Field(primary_key=True, max_length=64)
    taken: int = 0
    capacity: int | None = None
    capacity_set_by: str | None = Field(default=None, max_length=40)
    capacity_set_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

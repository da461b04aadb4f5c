"""PayGo credits: each organization's credit account, its grants, the append-only ledger and what debits used.

Invariants (checked by tests/credits/test_ledger_properties.py):
* ``CreditAccount.balance_nanos`` == the sum of the organization's ledger entries;
* a grant's ``remaining_nanos`` == its amount - its consumptions + its GRANT_ADJUSTMENTS entries (signed:
  expiry, refund and dispute hold take; a dispute release or reversed refund gives back what was taken);
* ``balance`` == the remaining of its ACTIVE grants - ``debt_nanos``;
* a purchase or auto-recharge grant exists exactly for each succeeded charge of that purpose.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, enum_column, new_id, utcnow


class GrantSource(Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    PROMOTIONAL = "PROMOTIONAL"


class GrantState(Enum):
    ACTIVE = "ACTIVE"
    DEPLETED = "DEPLETED"
    EXPIRED = "EXPIRED"


class EntryKind(Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    PROMOTIONAL = "PROMOTIONAL"
    USAGE = "USAGE"
    EXPIRY = "EXPIRY"
    SETTLEMENT = "SETTLEMENT"
    REFUND = "REFUND"
    DISPUTE_HOLD = "DISPUTE_HOLD"  # what is left of a disputed charge's credits, held until the dispute ends
    DISPUTE_RELEASE = "DISPUTE_RELEASE"  # a won dispute gives the held credits back
    REFUND_REVERSED = "REFUND_REVERSED"  # a refund the provider could not make gives the credits back


# the entries that change one grant's remaining besides the usage it paid (each names its grant)
GRANT_ADJUSTMENTS = frozenset(
    {
        EntryKind.EXPIRY,
        EntryKind.REFUND,
        EntryKind.DISPUTE_HOLD,
        EntryKind.DISPUTE_RELEASE,
        EntryKind.REFUND_REVERSED,
    }
)
# the adjustments that give back what an earlier one took
GIVE_BACKS = frozenset({EntryKind.DISPUTE_RELEASE, EntryKind.REFUND_REVERSED})

GRANT_ENTRY_KIND = {
    GrantSource.PURCHASE: EntryKind.PURCHASE,
    GrantSource.AUTO_RECHARGE: EntryKind.AUTO_RECHARGE,
    GrantSource.PROMOTIONAL: EntryKind.PROMOTIONAL,
}


class AttemptStatus(Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # the monthly cap left nothing to charge


class RefundStatus(Enum):
    REFUSED = "REFUSED"
    APPROVED = "APPROVED"  # credits taken back; the provider's refund not confirmed yet
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"  # the provider could not refund: the credits were given back


class CreditAccount(SQLModel, table=True):
    """One organization's balance, debt and auto-recharge settings: the row every credit change locks first."""

    __tablename__ = "credit_account"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    balance_nanos: int = Field(default=0, sa_type=BigInteger)
    # usage that no grant covered when it happened: paid by the next grant or the month-end settlement
    debt_nanos: int = Field(default=0, sa_type=BigInteger)
    # since when some debt has been owed (None: no debt): only debt older than the month is settled
    debt_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the part of the debt a pending settlement charge is collecting: new grants leave it alone
    settling_nanos: int = Field(default=0, sa_type=BigInteger)
    auto_recharge_enabled: bool = False
    auto_recharge_threshold_nanos: int = Field(default=0, sa_type=BigInteger)
    auto_recharge_to_nanos: int = Field(default=0, sa_type=BigInteger)
    auto_recharge_monthly_cap_nanos: int | None = Field(default=None, sa_type=BigInteger)
    # claimed by one caller with a conditional UPDATE: however many burns cross the threshold, one charge
    auto_recharge_in_flight: bool = False
    auto_recharge_seq: int = 0  # the last attempt number claimed; part of the charge's idempotency key
    auto_recharge_failures: int = 0  # in a row; three switch auto-recharge off
    auto_recharge_paused_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    low_balance_notified: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditGrant(SQLModel, table=True):
    """Credits granted at once: bought (a succeeded charge), auto-recharged, or promotional (staff)."""

    __tablename__ = "credit_grant"
    __table_args__ = (Index("ix_credit_grant_burn", "organization_id", "state", "expires_at"),)

    id: str = Field(default_factory=lambda: new_id("grant"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", max_length=40, ondelete="CASCADE")
    source: GrantSource = Field(sa_type=enum_column(GrantSource))
    amount_nanos: int = Field(sa_type=BigInteger)
    remaining_nanos: int = Field(sa_type=BigInteger)
    state: GrantState = Field(default=GrantState.ACTIVE, sa_type=enum_column(GrantState))
    bought_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    charge_id: str | None = Field(default=None, foreign_key="charge.id", unique=True, max_length=40)
    granted_by: str | None = Field(default=None, max_length=40)  # the staff member of a promotional grant
    note: str | None = Field(default=None, max_length=200)
    # the smallest "expires in N days" notice sent (30, then 7): each is sent once
    expiry_notice_days: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditLedgerEntry(SQLModel, table=True):
    """One change of a balance, never updated nor deleted; the balance is the sum of these."""

    __tablename__ = "credit_ledger_entry"
    __table_args__ = (Index("ix_credit_ledger_entry_org_time", "organization_id", "created_at"),)

    id: str = Field(default_factory=lambda: new_id("cle"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", max_length=40, ondelete="CASCADE")
    kind: EntryKind = Field(sa_type=enum_column(EntryKind))
    amount_nanos: int = Field(sa_type=BigInteger)  # signed: grants and settlements add, the rest takes
    balance_after_nanos: int = Field(sa_type=BigInteger)
    # USAGE only: the part of the cost no grant covered, which became debt
    uncovered_nanos: int = Field(default=0, sa_type=BigInteger)
    grant_id: str | None = Field(default=None, foreign_key="credit_grant.id", index=True, max_length=40)
    charge_id: str | None = Field(default=None, foreign_key="charge.id", max_length=40)
    reference: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditConsumption(SQLModel, table=True):
    """How much of one grant a debit used: every USAGE entry records the grants it consumed."""

    __tablename__ = "credit_consumption"

    id: str = Field(default_factory=lambda: new_id("ccon"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", max_length=40, ondelete="CASCADE")
    grant_id: str = Field(foreign_key="credit_grant.id", index=True, max_length=40)
    # the USAGE entry paid; None when the grant paid earlier usage that had become debt
    entry_id: str | None = Field(
        default=None, foreign_key="credit_ledger_entry.id", index=True, max_length=40
    )
    amount_nanos: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AutoRechargeAttempt(SQLModel, table=True):
    """One auto-recharge: the charge it made (or why it made none) and how it ended."""

    __tablename__ = "auto_recharge_attempt"
    __table_args__ = (UniqueConstraint("organization_id", "attempt_no"),)

    id: str = Field(default_factory=lambda: new_id("arc"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", max_length=40, ondelete="CASCADE")
    attempt_no: int
    amount_nanos: int = Field(default=0, sa_type=BigInteger)
    balance_before_nanos: int = Field(sa_type=BigInteger)
    status: AttemptStatus = Field(default=AttemptStatus.PENDING, sa_type=enum_column(AttemptStatus))
    charge_id: str | None = Field(default=None, foreign_key="charge.id", index=True, max_length=40)
    decline_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefundRequest(SQLModel, table=True):
    """A customer's request to refund a purchase, and the payment plugins' decision on it."""

    __tablename__ = "credit_refund_request"

    id: str = Field(default_factory=lambda: new_id("rfq"), primary_key=True, max_length=40)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=40, ondelete="CASCADE")
    grant_id: str = Field(foreign_key="credit_grant.id", max_length=40)
    charge_id: str = Field(foreign_key="charge.id", max_length=40)
    requested_by: str = Field(max_length=40)
    amount_nanos: int = Field(sa_type=BigInteger)  # asked back
    refunded_nanos: int = Field(default=0, sa_type=BigInteger)  # taken from the grant and refunded
    reason: str = Field(max_length=500)
    status: RefundStatus = Field(sa_type=enum_column(RefundStatus))
    decision_reason: str = Field(max_length=500)
    refund_ref: str | None = Field(default=None, max_length=255, index=True)
    # the provider's status of its refund (pending, succeeded, failed, canceled), as last reported
    provider_status: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

"""Monthly periods, their prices and the idempotency keys of what is charged for them.

Money rule: tier prices are whole cents a month. A period cut short by the model's deprecation, and
an upgrade's remaining part of a period, are charged pro rata to the microsecond, rounded down to
the cent in the customer's favour: `cents * part // whole`, all in integers.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.catalog.models import CatalogModel, SubscriptionTier
from app.domain.money import NANOS_PER_CENT


@dataclass(frozen=True, slots=True)
class Period:
    """Period `number` of a subscription: [start, end), where `end` may be cut short by deprecation."""

    number: int
    start: datetime
    end: datetime
    full_end: datetime  # where a whole month would end

    @property
    def is_whole(self) -> bool:
        return self.end == self.full_end


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time `months` later, the day clamped to the month's length (Jan 31 -> Feb 28)."""
    index = at.year * 12 + at.month - 1 + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def period(anchor: datetime, number: int, model: CatalogModel | None) -> Period:
    """Period `number` (from 1) of a subscription whose first period started at `anchor`."""
    start, full_end = add_months(anchor, number - 1), add_months(anchor, number)
    deprecated_at = model.deprecated_at if model is not None else None
    end = min(full_end, deprecated_at) if deprecated_at is not None and deprecated_at > start else full_end
    return Period(number, start, end, full_end)


def monthly_cents(tier: SubscriptionTier) -> int:
    # the catalog refuses tier prices that are not whole cents
    return tier.monthly_price // NANOS_PER_CENT


def prorate(cents: int, part: timedelta, whole: timedelta) -> int:
    """`cents` for `part` of `whole`, rounded down to the cent."""
    if part <= timedelta(0):
        return 0
    return min(cents, part * cents // whole)


def period_price(tier: SubscriptionTier, span: Period) -> int:
    """What a period of this tier costs, in cents: the monthly price, pro rata when cut short."""
    return prorate(monthly_cents(tier), span.end - span.start, span.full_end - span.start)


def upgrade_price(old: SubscriptionTier, new: SubscriptionTier, span: Period, at: datetime) -> int:
    """The difference of the two monthly prices for what is left of the period at `at`, in cents."""
    return prorate(monthly_cents(new) - monthly_cents(old), span.end - at, span.full_end - span.start)


def first_payment_key(subscription_id: str) -> str:
    return f"subscription:{subscription_id}:period:1"


def renewal_key(subscription_id: str, period_number: int, attempt: int) -> str:
    """One key per period and attempt: a retry after a decline is a new charge, a repeat is not."""
    return f"subscription:{subscription_id}:period:{period_number}:attempt:{attempt}"


def upgrade_key(subscription_id: str, upgrade_number: int) -> str:
    return f"subscription:{subscription_id}:upgrade:{upgrade_number}"

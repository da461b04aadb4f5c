"""A subscription's one charge in flight, and what its outcome does.

Every change that costs money (the first month, an upgrade, a renewal) is recorded in one
transaction with the subscription's change: the PENDING charge and `pending_charge_key`. The
provider is then asked outside any transaction (billing.charges). A success is applied by the
SUBSCRIPTION handler in billing's settling transaction, exactly once; a failure is applied by
`payment_failed`, called by whoever first sees it settled (the request, or the renewal job after
a retry). Both check the subscription's pending key under its row lock, so each applies once.

A charge the bank wants the cardholder to authenticate (3-D Secure) stays the pending charge: the
console's admin gets the provider's client secret (first month, upgrade), or the admins are emailed a
link (a renewal, made off-session, which is past due meanwhile). Nothing is applied until the provider
says succeeded; one never authenticated is given up by billing's retry job and then fails as above.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.billing import charges
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.notifications.models import Notice
from app.domain.subscriptions import capacity
from app.domain.subscriptions.models import EndReason, Subscription, SubscriptionState
from app.domain.subscriptions.notify import day, email_admins
from app.domain.subscriptions.periods import Period
from app.payments.facade import Payments

logger = logging.getLogger(__name__)

START, UPGRADE, RENEWAL = "start", "upgrade", "renewal"
FAILED = (ChargeStatus.DECLINED, ChargeStatus.FAILED)
RETRY_INTERVAL = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Bill:
    """A charge for a subscription, as recorded before the provider is asked."""

    organization_id: str
    amount_cents: int
    description: str
    idempotency_key: str
    details: dict[str, Any]


def bill_for(subscription: Subscription, kind: str, key: str, cents: int, what: str, **details: Any) -> Bill:
    return Bill(
        organization_id=subscription.organization_id,
        amount_cents=cents,
        description=f"Subscription {subscription.model_id}: {what}"[:255],
        idempotency_key=key,
        details={"subscription_id": subscription.id, "kind": kind, **details},
    )


def record_bill(session: AsyncSession, subscription: Subscription, bill: Bill) -> None:
    """Record the charge PENDING, in the transaction that makes the change it pays for."""
    session.add(
        Charge(
            organization_id=bill.organization_id,
            purpose=ChargePurpose.SUBSCRIPTION,
            amount_cents=bill.amount_cents,
            description=bill.description,
            idempotency_key=bill.idempotency_key,
            details=bill.details,
        )
    )
    subscription.pending_charge_key = bill.idempotency_key
    session.add(subscription)


async def pay(
    db: Database, key: str, *, payments: Payments, retries: int, on_session: bool = False
) -> Charge:
    """Ask the provider for the recorded charge `key` (once, whoever asks) and apply a failure.

    Raises PaymentUnavailable when the provider did not answer: the charge stays pending.
    ``on_session``: an admin at the console asked for the change, and can authenticate the payment.
    """
    async with db.reader() as session:
        recorded = await session.scalar(select(Charge).where(col(Charge.idempotency_key) == key))
    assert recorded is not None, key
    settled = await charges.charge(
        db,
        payments=payments,
        organization_id=recorded.organization_id,
        purpose=ChargePurpose.SUBSCRIPTION,
        amount_cents=recorded.amount_cents,
        description=recorded.description,
        idempotency_key=key,
        details=recorded.details,
        on_session=on_session,
    )
    if settled.status in FAILED:
        async with db.transaction() as session:
            await payment_failed(session, settled, retries=retries)
    return settled


async def locked(session: AsyncSession, subscription_id: str) -> Subscription | None:
    return await session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)


async def payment_succeeded(session: AsyncSession, charge: Charge) -> None:
    """Apply a successful subscription charge (billing runs this once, in its settling transaction)."""
    subscription = await locked(session, charge.details["subscription_id"])
    if subscription is None or subscription.pending_charge_key != charge.idempotency_key:
        # only the pending charge is ever asked for, and a pending key is cleared once: never reached
        logger.error("subscription charge %s does not match its subscription", charge.idempotency_key)
        return
    subscription.pending_charge_key = None
    kind = charge.details["kind"]
    if kind == START:
        activate(subscription)
    elif kind == UPGRADE:
        await apply_upgrade(session, subscription)
    else:
        await apply_renewal(session, subscription, period_of(charge.details))
    session.add(subscription)


async def awaiting_cardholder(session: AsyncSession, charge: Charge) -> None:
    """A subscription charge waits for the cardholder's authentication: an unpaid renewal is past due meanwhile.

    The paid period is not extended before the provider says succeeded; a first month stays INCOMPLETE
    and an upgrade keeps the current tier (billing emails the admins, or the console authenticates it).
    """
    subscription = await locked(session, charge.details["subscription_id"])
    if subscription is None or subscription.pending_charge_key != charge.idempotency_key:
        return
    if charge.details["kind"] == RENEWAL and subscription.state is SubscriptionState.ACTIVE:
        subscription.state = SubscriptionState.PAST_DUE
        session.add(subscription)


def activate(subscription: Subscription) -> None:
    subscription.state = SubscriptionState.ACTIVE
    subscription.next_charge_at = subscription.current_period_end


async def apply_upgrade(session: AsyncSession, subscription: Subscription) -> None:
    """Move to the pending (dearer) tier at once, giving the old tier's place back."""
    assert subscription.pending_tier_id is not None
    await capacity.release(session, subscription.model_id, subscription.tier_id)
    subscription.tier_id, subscription.pending_tier_id = subscription.pending_tier_id, None


async def apply_renewal(session: AsyncSession, subscription: Subscription, span: Period) -> None:
    """Start the paid period, in the scheduled tier if a downgrade was chosen."""
    recovered = subscription.state is SubscriptionState.PAST_DUE
    if subscription.scheduled_tier_id is not None:
        await capacity.release(session, subscription.model_id, subscription.tier_id)
        subscription.tier_id, subscription.scheduled_tier_id = subscription.scheduled_tier_id, None
    subscription.state = SubscriptionState.ACTIVE
    subscription.period_number = span.number
    subscription.current_period_start, subscription.current_period_end = span.start, span.end
    subscription.next_charge_at = span.end
    subscription.failed_renewals = 0
    if recovered:
        await email_admins(
            session,
            subscription,
            f"subscription to {subscription.model_id} renewed",
            f"The renewal of your subscription to {subscription.model_id} is paid; it runs until "
            f"{day(span.end)}.",
        )


async def payment_failed(session: AsyncSession, charge: Charge, *, retries: int) -> bool:
    """Apply a failed subscription charge once; False when it was applied already."""
    subscription = await locked(session, charge.details["subscription_id"])
    if subscription is None or subscription.pending_charge_key != charge.idempotency_key:
        return False
    subscription.pending_charge_key = None
    kind = charge.details["kind"]
    if kind == START:
        await end(session, subscription, EndReason.PAYMENT_FAILED, at=clock.now())
    elif kind == UPGRADE:
        assert subscription.pending_tier_id is not None
        await capacity.release(session, subscription.model_id, subscription.pending_tier_id)
        subscription.pending_tier_id = None
    else:
        await _renewal_failed(session, subscription, charge, retries)
    session.add(subscription)
    return True


async def _renewal_failed(
    session: AsyncSession, subscription: Subscription, charge: Charge, retries: int
) -> None:
    subscription.failed_renewals += 1
    reason = charge.message or charge.decline_code or "the card was declined"
    what = f"subscription to {subscription.model_id}"
    if subscription.failed_renewals > retries:
        await end(session, subscription, EndReason.PAYMENT_FAILED, at=clock.now())
        body = (
            f"The renewal of your {what} failed again ({reason}) and it is now canceled: usage of "
            f"{subscription.model_id} is paid with credits from now on. Subscribe again any time."
        )
        await email_admins(
            session, subscription, f"{what} canceled: payment failed", body, notice=Notice.FAILED_CHARGES
        )
        return
    subscription.state = SubscriptionState.PAST_DUE
    subscription.next_charge_at = clock.now() + RETRY_INTERVAL
    left = retries - subscription.failed_renewals + 1
    body = (
        f"The renewal of your {what} failed ({reason}). The subscription is past due: it keeps "
        f"working while we retry on {day(subscription.next_charge_at)} ({left} attempt(s) left before "
        f"it is canceled). Update the payment method in the console to avoid that."
    )
    await email_admins(
        session, subscription, f"{what} past due: payment failed", body, notice=Notice.FAILED_CHARGES
    )


async def end(session: AsyncSession, subscription: Subscription, reason: EndReason, *, at: datetime) -> None:
    """End a live subscription and give back every place it holds."""
    for tier_id in subscription.held_tiers():
        await capacity.release(session, subscription.model_id, tier_id)
    subscription.state, subscription.end_reason = SubscriptionState.CANCELED, reason
    subscription.ended_at = at
    subscription.next_charge_at = None
    subscription.scheduled_tier_id = subscription.pending_tier_id = subscription.pending_charge_key = None
    subscription.cancel_at_period_end = False
    session.add(subscription)


def period_details(span: Period) -> dict[str, Any]:
    """A period as a charge's details keep it (JSON)."""
    return {
        "period": span.number,
        "period_start": span.start.isoformat(),
        "period_end": span.end.isoformat(),
        "period_full_end": span.full_end.isoformat(),
    }


def period_of(details: dict[str, Any]) -> Period:
    return Period(
        details["period"],
        datetime.fromisoformat(details["period_start"]),
        datetime.fromisoformat(details["period_end"]),
        datetime.fromisoformat(details["period_full_end"]),
    )

"""The renewal job: period ends, renewals and their daily retries, cancellations and deprecations.

Safe when replicas run it at once: each subscription is decided under its row lock, a renewal's
charge key names the period and the attempt (a repeat charges once, a retry after a decline is a
new charge), and a failure is applied only while it is still the subscription's pending charge.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.billing.errors import PaymentUnavailable
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.catalog.models import Catalog
from app.domain.subscriptions.lifecycle import (
    FAILED,
    RENEWAL,
    apply_renewal,
    bill_for,
    end,
    locked,
    pay,
    payment_failed,
    period_details,
    record_bill,
)
from app.domain.subscriptions.models import LIVE_STATES, EndReason, Subscription
from app.domain.subscriptions.notify import day, email_admins
from app.domain.subscriptions.periods import period, period_price, renewal_key
from app.payments.facade import Payments

logger = logging.getLogger(__name__)


async def run_renewals(db: Database, *, payments: Payments, catalog: Catalog, retries: int) -> dict[str, int]:
    """Do what is due for every live subscription now; returns how many had each outcome."""
    now = clock.now()
    deprecated = [model.id for model in catalog.models if model.is_deprecated(now)]
    async with db.reader() as session:
        due = list(
            await session.scalars(
                select(col(Subscription.id))
                .where(col(Subscription.state).in_(LIVE_STATES))
                .where(
                    or_(
                        col(Subscription.pending_charge_key).is_not(None),
                        col(Subscription.next_charge_at) <= now,
                        col(Subscription.model_id).in_(deprecated),
                    )
                )
                .order_by(col(Subscription.next_charge_at), col(Subscription.id))
            )
        )
    outcomes: Counter[str] = Counter()
    for subscription_id in due:
        try:
            outcomes[
                await renew(db, subscription_id, payments=payments, catalog=catalog, now=now, retries=retries)
            ] += 1
        except Exception:  # noqa: BLE001  (one subscription's trouble must not stop the others)
            logger.exception("renewal of subscription %s failed", subscription_id)
            outcomes["error"] += 1
    return dict(outcomes)


async def renew(
    db: Database, subscription_id: str, *, payments: Payments, catalog: Catalog, now: datetime, retries: int
) -> str:
    """Decide one subscription: ended, charged for its next period, or nothing due; returns what happened."""
    async with db.transaction() as session:
        subscription = await locked(session, subscription_id)
        if subscription is None or not subscription.is_live:
            return "unchanged"
        if subscription.pending_charge_key is not None:
            # the request that made the charge, or the pending-charge retry job, asks the provider;
            # here only a failure it has not applied yet is applied
            charge = await session.scalar(
                select(Charge).where(col(Charge.idempotency_key) == subscription.pending_charge_key)
            )
            if charge is not None and charge.status in FAILED:
                await payment_failed(session, charge, retries=retries)
                return "payment failed"
            return "pending"
        model = catalog.model(subscription.model_id)
        if model is None or model.is_deprecated(now):
            at = min(now, model.deprecated_at) if model is not None and model.deprecated_at else now
            await end(session, subscription, EndReason.MODEL_DEPRECATED, at=at)
            await email_admins(
                session,
                subscription,
                f"subscription to {subscription.model_id} ended",
                f"{subscription.model_id} has reached its deprecation date, so your subscription to it has "
                f"ended ({day(at)}). Nothing more will be charged for it.",
            )
            return "ended: model deprecated"
        if subscription.next_charge_at is None or subscription.next_charge_at > now:
            return "unchanged"
        if subscription.cancel_at_period_end:
            await end(session, subscription, EndReason.CANCELED, at=subscription.current_period_end)
            await email_admins(
                session,
                subscription,
                f"subscription to {subscription.model_id} ended",
                f"As requested, your subscription to {subscription.model_id} ended at the end of its paid "
                f"period ({day(subscription.current_period_end)}).",
            )
            return "ended: canceled"
        tier = model.tier(subscription.scheduled_tier_id or subscription.tier_id)
        if tier is None:  # the tier was taken out of the catalog: it is not renewed
            await end(session, subscription, EndReason.TIER_WITHDRAWN, at=subscription.current_period_end)
            return "ended: tier withdrawn"
        span = period(subscription.billing_anchor, subscription.period_number + 1, model)
        cents = period_price(tier, span)
        if not cents:
            await apply_renewal(session, subscription, span)
            return "renewed"
        key = renewal_key(subscription.id, span.number, subscription.failed_renewals + 1)
        what = f"{tier.display_name}, {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d}"
        record_bill(
            session, subscription, bill_for(subscription, RENEWAL, key, cents, what, **period_details(span))
        )
    try:
        settled = await pay(db, key, payments=payments, retries=retries)
    except PaymentUnavailable:
        return "pending"
    if settled.status is ChargeStatus.SUCCEEDED:
        return "renewed"
    if settled.status is ChargeStatus.REQUIRES_ACTION:
        return "awaiting authentication"  # past due meanwhile; the admins were emailed a link
    return "payment failed" if settled.status in FAILED else "pending"

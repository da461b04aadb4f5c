"""What an Organization Admin does with subscriptions: subscribe, change tier, cancel, resume, list.

Proration: an upgrade (a dearer tier) takes effect at once and is charged the difference of the two
monthly prices for what is left of the period; a downgrade takes effect at the period end (nothing
is refunded) and holds its place in the cheaper tier from the moment it is chosen, so that it cannot
fail then. A move between tiers of the same price is immediate and free.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import default_payment_method, ensure_customer
from app.domain.billing.authentication import require_paid
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.catalog.models import Catalog, CatalogModel, SubscriptionTier
from app.domain.errors import Conflict, ErrorCode, NotFound
from app.domain.orgs.access import require_org_admin
from app.domain.orgs.models import OrganizationType
from app.domain.subscriptions import capacity
from app.domain.subscriptions.lifecycle import (
    START,
    UPGRADE,
    Bill,
    activate,
    apply_upgrade,
    bill_for,
    end,
    locked,
    pay,
    period_details,
    record_bill,
)
from app.domain.subscriptions.models import LIVE_STATES, EndReason, Subscription, SubscriptionState
from app.domain.subscriptions.periods import (
    Period,
    add_months,
    first_payment_key,
    monthly_cents,
    period,
    period_price,
    upgrade_key,
    upgrade_price,
)
from app.payments.facade import Payments

SUBSCRIPTION_NOT_FOUND = "No subscription with this ID is visible to you."


def offered(catalog: Catalog, model_id: str, tier_id: str) -> tuple[CatalogModel, SubscriptionTier]:
    """The model and tier, if they can be subscribed to now."""
    model = catalog.model(model_id)
    if model is None:
        raise NotFound(f"No model '{model_id}' in the catalog.", code=ErrorCode.UNKNOWN_MODEL, field="model")
    if model.is_deprecated(clock.now()):
        raise Conflict(
            f"{model.display_name} was deprecated on {model.deprecation_date}: it cannot be subscribed to.",
            code=ErrorCode.MODEL_DEPRECATED,
            field="model",
        )
    tier = model.tier(tier_id)
    if tier is None:
        offers = ", ".join(t.id for t in model.tiers) or "none"
        raise NotFound(
            f"{model.display_name} has no tier '{tier_id}' (tiers: {offers}).",
            code=ErrorCode.UNKNOWN_TIER,
            field="tier",
        )
    return model, tier


async def subscribe(
    db: Database,
    actor: Actor,
    organization_id: str,
    *,
    payments: Payments,
    catalog: Catalog,
    model_id: str,
    tier_id: str,
    retries: int,
) -> Subscription:
    """Subscribe a Team organization to a model's tier; only a successful first charge activates it."""
    model, tier = offered(catalog, model_id, tier_id)
    async with db.reader() as session:
        paying = await _may_subscribe(session, actor, organization_id, model.id, tier.id)
    if paying is not None:  # a first payment left pending (provider timeout): ask again, never twice
        return await _complete(db, payments, paying.id, paying.pending_charge_key, retries)
    await ensure_customer(db, organization_id, payments=payments)  # a provider call: outside any transaction
    now = clock.now()
    try:
        async with db.transaction() as session:
            if await _may_subscribe(session, actor, organization_id, model.id, tier.id) is not None:
                raise Conflict("A subscription to this model is being paid.", code=ErrorCode.PAYMENT_PENDING)
            await capacity.reserve(session, model.id, tier)
            span = period(now, 1, model)
            subscription = Subscription(
                organization_id=organization_id,
                model_id=model.id,
                tier_id=tier.id,
                state=SubscriptionState.INCOMPLETE,
                billing_anchor=now,
                current_period_start=span.start,
                current_period_end=span.end,
                created_by=actor.user_id,
                created_at=now,
            )
            session.add(subscription)
            await session.flush()
            cents = period_price(tier, span)
            if cents:
                what = f"{tier.display_name}, {_dates(span)}"
                bill = bill_for(
                    subscription,
                    START,
                    first_payment_key(subscription.id),
                    cents,
                    what,
                    **period_details(span),
                )
                record_bill(session, subscription, bill)
            else:
                activate(subscription)
    except IntegrityError:  # a concurrent subscribe of the same organization to the same model won
        raise Conflict(
            "The organization already has a subscription to this model.", code=ErrorCode.ALREADY_SUBSCRIBED
        ) from None
    return await _complete(db, payments, subscription.id, subscription.pending_charge_key, retries)


async def change_tier(
    db: Database,
    actor: Actor,
    subscription_id: str,
    *,
    payments: Payments,
    catalog: Catalog,
    tier_id: str,
    retries: int,
) -> Subscription:
    """Upgrade now (pro rata) or downgrade at the period end; choosing the current tier undoes a downgrade."""
    now = clock.now()
    bill: Bill | None = None
    async with db.transaction() as session:
        subscription = await _admin_subscription(session, actor, subscription_id, lock=True)
        await _require_changeable(session, subscription)
        model, new = offered(catalog, subscription.model_id, tier_id)
        current = model.tier(subscription.tier_id) or new
        if new.id not in (subscription.tier_id, subscription.scheduled_tier_id):
            if subscription.scheduled_tier_id is not None:
                await capacity.release(session, model.id, subscription.scheduled_tier_id)
                subscription.scheduled_tier_id = None
            await capacity.reserve(session, model.id, new)
            if monthly_cents(new) < monthly_cents(current):
                subscription.scheduled_tier_id = new.id
            else:
                subscription.pending_tier_id = new.id
                cents = upgrade_price(current, new, _current_period(subscription), now)
                if cents:
                    subscription.upgrades += 1
                    key = upgrade_key(subscription.id, subscription.upgrades)
                    what = f"upgrade {current.display_name} to {new.display_name} until {subscription.current_period_end:%Y-%m-%d}"
                    bill = bill_for(subscription, UPGRADE, key, cents, what, tier=new.id)
                    record_bill(session, subscription, bill)
                else:
                    await apply_upgrade(session, subscription)
        elif new.id == subscription.tier_id and subscription.scheduled_tier_id is not None:
            await capacity.release(session, model.id, subscription.scheduled_tier_id)
            subscription.scheduled_tier_id = None
        session.add(subscription)
    if bill is None:
        return subscription
    return await _complete(db, payments, subscription.id, bill.idempotency_key, retries)


async def cancel(db: Database, actor: Actor, subscription_id: str) -> Subscription:
    """Cancel at the end of the paid period (at once when past due: nothing paid is left to run)."""
    now = clock.now()
    async with db.transaction() as session:
        subscription = await _admin_subscription(session, actor, subscription_id, lock=True)
        if subscription.state is SubscriptionState.CANCELED:
            raise Conflict("The subscription has ended already.", code=ErrorCode.SUBSCRIPTION_ENDED)
        if subscription.pending_charge_key is not None:
            raise await _payment_in_flight(session, subscription.pending_charge_key)
        if subscription.state is SubscriptionState.PAST_DUE:
            subscription.canceled_at = now
            await end(session, subscription, EndReason.CANCELED, at=now)
        elif not subscription.cancel_at_period_end:
            subscription.cancel_at_period_end, subscription.canceled_at = True, now
            session.add(subscription)
    return subscription


async def resume(db: Database, actor: Actor, subscription_id: str) -> Subscription:
    """Undo a cancellation before the period ends: the subscription renews again."""
    async with db.transaction() as session:
        subscription = await _admin_subscription(session, actor, subscription_id, lock=True)
        ended = subscription.state is SubscriptionState.CANCELED or (
            subscription.cancel_at_period_end and clock.now() >= subscription.current_period_end
        )
        if ended:
            raise Conflict("The subscription has ended: subscribe again.", code=ErrorCode.SUBSCRIPTION_ENDED)
        if subscription.cancel_at_period_end:
            subscription.cancel_at_period_end, subscription.canceled_at = False, None
            session.add(subscription)
    return subscription


def subscription_list(organization_id: str, *, include_ended: bool = False) -> Select[Any]:
    """The organization's subscriptions, newest first (the caller checked who may read them).

    Both terms descend, so a page is one backward range scan of `ix_subscription_org_created`.
    """
    query = select(Subscription).where(col(Subscription.organization_id) == organization_id)
    if not include_ended:
        query = query.where(col(Subscription.state).in_(LIVE_STATES))
    return query.order_by(col(Subscription.created_at).desc(), col(Subscription.id).desc())


async def get_subscription(session: AsyncSession, actor: Actor, subscription_id: str) -> Subscription:
    """One subscription, for an Organization Admin of its organization."""
    return await _admin_subscription(session, actor, subscription_id, lock=False)


async def _admin_subscription(
    session: AsyncSession, actor: Actor, subscription_id: str, *, lock: bool
) -> Subscription:
    subscription = await (
        locked(session, subscription_id) if lock else session.get(Subscription, subscription_id)
    )
    if subscription is None:
        raise NotFound(SUBSCRIPTION_NOT_FOUND, field="subscriptionId")
    try:
        await require_org_admin(session, actor, subscription.organization_id)
    except NotFound:
        raise NotFound(SUBSCRIPTION_NOT_FOUND, field="subscriptionId") from None
    return subscription


async def _may_subscribe(
    session: AsyncSession, actor: Actor, organization_id: str, model_id: str, tier_id: str
) -> Subscription | None:
    """Refuse what may not subscribe; a first payment of the same tier still pending is returned."""
    organization = await require_org_admin(session, actor, organization_id)
    if organization.type is OrganizationType.PERSONAL:
        raise Conflict(
            "Subscriptions are for Team organizations: create one, or ask support to convert this one.",
            code=ErrorCode.PERSONAL_ORGANIZATION,
        )
    await default_payment_method(session, organization_id)
    live = await session.scalar(
        select(Subscription)
        .where(col(Subscription.organization_id) == organization_id)
        .where(col(Subscription.model_id) == model_id)
        .where(col(Subscription.state).in_(LIVE_STATES))
    )
    if live is None:
        return None
    if live.state is SubscriptionState.INCOMPLETE and live.tier_id == tier_id and live.pending_charge_key:
        return live
    raise Conflict(
        "The organization already has a subscription to this model: change its tier instead.",
        code=ErrorCode.ALREADY_SUBSCRIBED,
        field="model",
    )


async def _require_changeable(session: AsyncSession, subscription: Subscription) -> None:
    if subscription.state is SubscriptionState.CANCELED:
        raise Conflict("The subscription has ended: subscribe again.", code=ErrorCode.SUBSCRIPTION_ENDED)
    if subscription.pending_charge_key is not None:
        raise await _payment_in_flight(session, subscription.pending_charge_key)
    if subscription.state is SubscriptionState.INCOMPLETE:
        raise Conflict("A payment for this subscription is being processed.", code=ErrorCode.PAYMENT_PENDING)
    if subscription.state is SubscriptionState.PAST_DUE:
        raise Conflict(
            "The subscription's renewal is unpaid: update the payment method; it is retried daily.",
            code=ErrorCode.SUBSCRIPTION_PAST_DUE,
        )


async def _payment_in_flight(session: AsyncSession, key: str) -> Conflict:
    """Why the subscription cannot change while its charge is open, saying what the admin can do."""
    charge = await session.scalar(select(Charge).where(col(Charge.idempotency_key) == key))
    if charge is not None and charge.status is ChargeStatus.REQUIRES_ACTION:
        return Conflict(
            "A payment for this subscription waits for the cardholder's authentication: complete it from the "
            "Billing page, or wait until it is given up after a day.",
            code=ErrorCode.PAYMENT_REQUIRES_ACTION,
        )
    return Conflict("A payment for this subscription is being processed.", code=ErrorCode.PAYMENT_PENDING)


def _current_period(subscription: Subscription) -> Period:
    full_end = add_months(subscription.billing_anchor, subscription.period_number)
    return Period(
        subscription.period_number,
        subscription.current_period_start,
        subscription.current_period_end,
        full_end,
    )


def _dates(span: Period) -> str:
    return f"{span.start:%Y-%m-%d} to {span.end:%Y-%m-%d}"


async def _complete(
    db: Database, payments: Payments, subscription_id: str, key: str | None, retries: int
) -> Subscription:
    """Pay the recorded charge `key` (if any) and return the subscription; a failure is a typed error.

    The admin is at the console: a card that needs authentication answers PaymentActionRequired with
    the provider's client secret, and the change is applied once the payment succeeds.
    """
    if key is not None:
        settled = await pay(db, key, payments=payments, retries=retries, on_session=True)
        await require_paid(db, settled, payments=payments)
    async with db.reader() as session:
        subscription = await session.get(Subscription, subscription_id)
    assert subscription is not None
    return subscription

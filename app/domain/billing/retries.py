"""The retry job's follow-up of charges still open: asked again after a back-off, given up after an age limit.

A charge with no provider reference is asked again under its idempotency key, so the provider charges
once; one with a reference is read back at the provider (``retrieve_charge``). The waits between
attempts double (``charges.retry_later``); a charge still open past its age limit is given up, FAILED
with its reason, and the organization's admins are told; one that waited for the cardholder's
authentication is canceled at the provider first, so that a late authentication takes no money.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.billing.charges import (
    CONSOLE_PATH,
    OPEN_STATUSES,
    STATUS_OF_RESULT,
    collect,
    is_open,
    refused,
    retry_later,
    settle,
    settle_in,
)
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.money import format_cents
from app.domain.notifications.models import Notice
from app.domain.notifications.recipients import email_notice
from app.payments import types as provider
from app.payments.errors import PaymentProviderError, PaymentRequestError
from app.payments.facade import Payments

logger = logging.getLogger(__name__)

# A charge without a provider reference is asked again under its key only within the 24 hours providers
# (Stripe) keep the key, then given up; one awaiting the cardholder's authentication, after a week, but a
# subscription's after a day: a renewal past due meanwhile keeps covering the model unpaid, and a first
# month or an upgrade holds a tier's place, so it waits no longer than a declined renewal's next retry.
RETRY_AGE_LIMIT = timedelta(hours=23)
AUTHENTICATION_TIME_LIMIT = timedelta(days=7)
AUTHENTICATION_TIME_LIMITS = {ChargePurpose.SUBSCRIPTION: timedelta(days=1)}


async def retry_pending(
    db: Database, *, payments: Payments, older_than: timedelta = timedelta(minutes=1)
) -> int:
    """Ask the provider again about charges still open whose back-off is over; returns how many ended."""
    now = clock.now()
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Charge)
            .where(col(Charge.status).in_(OPEN_STATUSES))
            .where(col(Charge.created_at) <= now - older_than)
            .where(or_(col(Charge.next_attempt_at).is_(None), col(Charge.next_attempt_at) <= now))
        )
        open_ids = [c.id for c in rows if is_open(c)]
    settled = 0
    for charge_id in open_ids:
        try:
            result = await follow_up(db, charge_id, payments=payments)
        except Exception:  # noqa: BLE001  (one charge's trouble must not stop the others)
            logger.exception("retry of open charge %s failed", charge_id)
            continue
        settled += not is_open(result)
    return settled


async def follow_up(db: Database, charge_id: str, *, payments: Payments) -> Charge:
    """One retry of an open charge: read the provider's charge when it has one, else ask again with the key.

    A charge the provider never got a reference for is given up after RETRY_AGE_LIMIT (inside the
    24 hours a provider keeps a key, so asking again can never charge twice); one that waits for the
    cardholder's authentication is given up after its purpose's time limit.
    """
    async with db.reader() as session:
        stored = await session.get(Charge, charge_id)
        assert stored is not None
    age = clock.now() - stored.created_at
    if stored.provider_charge_ref is None:
        if age > RETRY_AGE_LIMIT:
            return await give_up(
                db, charge_id, "The payment provider did not answer within a day; nothing was charged."
            )
        return await collect(db, charge_id, payments=payments)
    if stored.status is ChargeStatus.PENDING:
        return await collect(db, charge_id, payments=payments)  # confirms the stored charge if it is not yet
    try:
        result = await payments.retrieve_charge(charge_ref=stored.provider_charge_ref)
    except PaymentProviderError as exc:
        await retry_later(db, charge_id, f"provider unavailable: {exc}")
        return stored
    except PaymentRequestError as exc:
        return await refused(db, charge_id, exc)
    if result is None:
        return stored  # this provider cannot be asked: its webhook tells
    status = STATUS_OF_RESULT[result.status]
    if status is ChargeStatus.REQUIRES_ACTION and age > authentication_time_limit(stored):
        return await abandon(db, stored, payments=payments)
    settled = await settle(
        db,
        charge_id,
        status=status,
        provider_charge_ref=result.charge_ref,
        decline_code=result.decline_code,
        message=result.message,
    )
    if is_open(settled):
        await retry_later(db, charge_id, result.message or "still open at the provider")
    return settled


async def abandon(db: Database, stored: Charge, *, payments: Payments) -> Charge:
    """Give up a charge never authenticated, canceling it at the provider first: a late authentication
    then cannot take money that nothing here applies. One that succeeded meanwhile is applied instead."""
    assert stored.provider_charge_ref is not None
    try:
        result = await payments.cancel_charge(charge_ref=stored.provider_charge_ref)
    except PaymentProviderError as exc:
        await retry_later(db, stored.id, f"provider unavailable: {exc}")
        return stored
    except PaymentRequestError as exc:  # nothing left to cancel at the provider
        logger.warning("charge %s could not be canceled at the provider: %s", stored.id, exc)
        result = None
    if result is not None and result.status in (
        provider.ChargeStatus.SUCCEEDED,
        provider.ChargeStatus.PROCESSING,
    ):
        settled = await settle(
            db,
            stored.id,
            status=STATUS_OF_RESULT[result.status],
            provider_charge_ref=result.charge_ref,
            decline_code=result.decline_code,
            message=result.message,
        )
        if is_open(settled):
            await retry_later(db, stored.id, result.message or "processing at the provider")
        return settled
    return await give_up(db, stored.id, "The payment was not authenticated in time; nothing was charged.")


def authentication_time_limit(charge: Charge) -> timedelta:
    """How long a charge may wait for the cardholder's authentication before it is given up."""
    return AUTHENTICATION_TIME_LIMITS.get(charge.purpose, AUTHENTICATION_TIME_LIMIT)


async def give_up(db: Database, charge_id: str, reason: str) -> Charge:
    """Mark an open charge FAILED with its reason (its failure handler runs) and tell the admins."""
    async with db.transaction() as session:
        current = await session.get(Charge, charge_id, with_for_update=True)
        was_open = current is not None and is_open(current)
        stored = await settle_in(
            session,
            charge_id,
            status=ChargeStatus.FAILED,
            provider_charge_ref=None,
            decline_code="expired",
            message=reason,
        )
        if was_open and stored.status is ChargeStatus.FAILED:  # ended here, not by a webhook meanwhile
            await email_notice(
                session,
                stored.organization_id,
                subject="a payment could not be completed",
                body=f"{stored.description} ({format_cents(stored.amount_cents, stored.currency)}): {reason}",
                console_path=CONSOLE_PATH,
                notice=Notice.FAILED_CHARGES,
                security=True,  # money that was due was not paid: every admin hears of it
            )
    return stored

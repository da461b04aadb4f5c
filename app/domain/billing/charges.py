"""Charging an organization: record first, ask the provider outside any transaction, then apply once.

1. The charge is recorded PENDING under an idempotency key derived from what it pays; a second
   call for the same thing finds it (settled: returned as it is; pending: asked again with the
   same key, so the provider charges once).
2. The provider is called with no database transaction open (it may take seconds).
3. The result is recorded and, on success, the purpose's handler applies it (grants the credits,
   activates the subscription) in the same transaction: nothing is granted without a successful
   charge, and a successful charge is applied exactly once, whoever settles it first (this call, a
   retry job, or the provider's webhook). A charge that ends otherwise runs the purpose's failure
   handler, also once. The handlers of every purpose are installed at start-up from one table
   (app.domain.charge_handlers), which refuses to start when a purpose has no success handler.

One provider charge per charge, whatever the delay: where the provider can (``create_charge``), its
charge is created and its reference stored before it is confirmed, and every later attempt reads or
confirms that charge instead of creating another. A charge still open (no answer, PROCESSING, or
waiting for the cardholder's 3-D Secure) is followed up by the retry job (app.domain.billing.retries)
with a doubling back-off, and given up with its reason after an age limit. A refusal (unknown
customer or card, a reused key) ends the charge FAILED at once with a reason people can read:
refusals are never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.billing.accounts import default_payment_method, ensure_customer, forget_customer
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable, unavailable_on_outage
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.errors import Conflict, ErrorCode
from app.domain.money import format_cents
from app.domain.notifications.recipients import email_notice
from app.domain.receipts.service import issue_receipt
from app.payments import types as provider
from app.payments.errors import CustomerGone, IdempotencyConflict, PaymentProviderError, PaymentRequestError
from app.payments.facade import Payments
from app.settings import get_settings

logger = logging.getLogger(__name__)

Applier = Callable[[AsyncSession, Charge], Awaitable[None]]

# A charge waiting for the cardholder's authentication (3-D Secure) is open, whatever it pays: nothing is
# applied meanwhile (a settlement's debt stays reserved, a renewal is past due), and it ends once the
# provider says succeeded, or the retry job gives it up after its age limit (retries.py).
OPEN_STATUSES = (ChargeStatus.PENDING, ChargeStatus.PROCESSING, ChargeStatus.REQUIRES_ACTION)
# Retries wait 1, 2, 4, … minutes after a failed attempt, at most an hour (the retry job: retries.py)
RETRY_FIRST_WAIT = timedelta(minutes=1)
RETRY_MAX_WAIT = timedelta(hours=1)
# the signature of the admins' emails about one payment (it may be any purpose's: the billing page)
CONSOLE_PATH = "Billing"

STATUS_OF_RESULT = {
    provider.ChargeStatus.PROCESSING: ChargeStatus.PROCESSING,
    provider.ChargeStatus.SUCCEEDED: ChargeStatus.SUCCEEDED,
    provider.ChargeStatus.DECLINED: ChargeStatus.DECLINED,
    provider.ChargeStatus.REQUIRES_ACTION: ChargeStatus.REQUIRES_ACTION,
    provider.ChargeStatus.FAILED: ChargeStatus.FAILED,
}
_PROVIDER_PURPOSE = {
    ChargePurpose.PURCHASE: provider.ChargePurpose.PURCHASE,
    ChargePurpose.AUTO_RECHARGE: provider.ChargePurpose.AUTO_RECHARGE,
    ChargePurpose.SETTLEMENT: provider.ChargePurpose.SETTLEMENT,
    ChargePurpose.SUBSCRIPTION: provider.ChargePurpose.SUBSCRIPTION,
}


@dataclass(frozen=True, slots=True)
class ChargeHandlers:
    """What a charge's outcome does, by purpose: a success handler for each, the others where needed.

    ``awaiting_cardholder`` runs once when a charge starts waiting for the cardholder's authentication.
    """

    on_success: Mapping[ChargePurpose, Applier]
    on_failure: Mapping[ChargePurpose, Applier] = field(default_factory=dict)
    awaiting_cardholder: Mapping[ChargePurpose, Applier] = field(default_factory=dict)


class MissingChargeHandler(RuntimeError):
    """Start-up refused: a purpose could be charged, and its success never applied."""


_handlers: ChargeHandlers | None = None


def install_handlers(handlers: ChargeHandlers) -> None:
    """Make these the handlers settled charges run; refuses (changing nothing) when a purpose has no success handler."""
    global _handlers
    missing = [purpose.value for purpose in ChargePurpose if purpose not in handlers.on_success]
    if missing:
        raise MissingChargeHandler(f"No success handler for the charge purpose(s): {', '.join(missing)}.")
    _handlers = handlers


def installed_handlers() -> ChargeHandlers:
    """The handlers settled charges run (installed at start-up by create_app and the job runner)."""
    if _handlers is None:
        raise MissingChargeHandler(
            "No charge handlers are installed: call install_charge_handlers() at start-up."
        )
    return _handlers


async def record(
    session: AsyncSession,
    *,
    organization_id: str,
    purpose: ChargePurpose,
    amount_cents: int,
    description: str,
    idempotency_key: str,
    details: dict[str, Any] | None = None,
) -> Charge:
    """The charge under this key, recorded PENDING in the caller's transaction when it is new.

    Callers that must decide the amount under their own locks record it here, then call `charge`
    with the same key after their commit.
    """
    existing = await _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    fresh = Charge(
        organization_id=organization_id,
        purpose=purpose,
        amount_cents=amount_cents,
        description=description,
        idempotency_key=idempotency_key,
        details=details or {},
    )
    try:
        async with session.begin_nested():
            session.add(fresh)
    except IntegrityError:  # a concurrent call recorded it first (PostgreSQL)
        existing = await _by_key(session, idempotency_key)
        assert existing is not None
        return existing
    return fresh


async def charge(
    db: Database,
    *,
    payments: Payments,
    organization_id: str,
    purpose: ChargePurpose,
    amount_cents: int,
    description: str,
    idempotency_key: str,
    details: dict[str, Any] | None = None,
    on_session: bool = False,
) -> Charge:
    """Charge the organization's default card once for what the key names; returns the charge as it stands.

    Raises PaymentUnavailable when the provider did not answer (the charge stays pending).
    A declined charge is returned with its status; `require_success` turns it into an error.
    ``on_session``: the cardholder is at the console and can authenticate the payment (purchases).
    """
    with unavailable_on_outage():
        customer_ref = await ensure_customer(db, organization_id, payments=payments)
    async with db.transaction() as session:
        card = await default_payment_method(session, organization_id)
        existing = await record(
            session,
            organization_id=organization_id,
            purpose=purpose,
            amount_cents=amount_cents,
            description=description,
            idempotency_key=idempotency_key,
            details=details,
        )
        if existing.status is not ChargeStatus.PENDING:
            return existing
        existing.payment_method_ref = existing.payment_method_ref or card.provider_ref
        existing.attempts += 1
        pending_id, card_ref = existing.id, existing.payment_method_ref
    return await _ask_provider(db, payments, pending_id, customer_ref, card_ref, on_session=on_session)


async def collect(db: Database, charge_id: str, *, payments: Payments) -> Charge:
    """Ask the provider for a charge recorded with `record`, once its recording transaction has committed.

    Returns the charge as it stands: settled, or still pending when the provider did not answer
    (the retry job settles it, with the same key). Without a card left, it is settled FAILED.
    """
    async with db.transaction() as session:
        pending = await session.get(Charge, charge_id, with_for_update=True)
        if pending is None:
            raise LookupError(charge_id)
        if pending.status is not ChargeStatus.PENDING:
            return pending
        problem = "The organization has no payment method."
        if pending.payment_method_ref is None:  # never sent: it goes to today's default card
            try:
                pending.payment_method_ref = (
                    await default_payment_method(session, pending.organization_id)
                ).provider_ref
            except Conflict as exc:
                problem = exc.message
        if pending.payment_method_ref is not None:
            pending.attempts += 1
        card_ref = pending.payment_method_ref
    if card_ref is None:
        return await settle(
            db,
            charge_id,
            status=ChargeStatus.FAILED,
            provider_charge_ref=None,
            decline_code="no_payment_method",
            message=problem,
        )
    try:
        with unavailable_on_outage():
            customer_ref = await ensure_customer(db, pending.organization_id, payments=payments)
        return await _ask_provider(db, payments, charge_id, customer_ref, card_ref, on_session=False)
    except PaymentUnavailable:
        return pending  # stays PENDING: the retry job (retries.py) or the provider's webhook settles it


async def _ask_provider(
    db: Database, payments: Payments, charge_id: str, customer_ref: str, card_ref: str, *, on_session: bool
) -> Charge:
    """Create the provider's charge and keep its reference, then confirm it: one provider charge per charge."""
    async with db.transaction() as session:
        pending = await session.get(Charge, charge_id)
        assert pending is not None
    arguments: dict[str, Any] = {
        "customer_ref": customer_ref,
        "amount": pending.amount_cents,
        "currency": pending.currency,
        "purpose": _PROVIDER_PURPOSE[pending.purpose],
        "description": pending.description,
        "idempotency_key": pending.idempotency_key,
        "payment_method_ref": card_ref,
    }
    try:
        charge_ref = pending.provider_charge_ref
        if charge_ref is None:
            prepared = await payments.create_charge(**arguments)
            if prepared is not None:
                charge_ref = await _keep_reference(db, charge_id, prepared.charge_ref)
        result = await payments.charge(**arguments, on_session=on_session, charge_ref=charge_ref)
    except PaymentProviderError as exc:
        await retry_later(db, charge_id, f"provider unavailable: {exc}")
        raise PaymentUnavailable(
            "The payment provider did not answer; the charge will be retried (never twice). Try again shortly."
        ) from exc
    except (PaymentRequestError, IdempotencyConflict) as exc:
        return await refused(db, charge_id, exc)
    return await settle(
        db,
        charge_id,
        status=STATUS_OF_RESULT[result.status],
        provider_charge_ref=result.charge_ref or None,
        decline_code=result.decline_code,
        message=result.message,
        cardholder_present=on_session,
    )


async def _keep_reference(db: Database, charge_id: str, charge_ref: str) -> str:
    """Store the provider's reference before the charge is confirmed: retries read it, never make another."""
    async with db.transaction() as session:
        stored = await session.get(Charge, charge_id, with_for_update=True)
        assert stored is not None
        stored.provider_charge_ref = stored.provider_charge_ref or charge_ref
        return stored.provider_charge_ref


async def retry_later(db: Database, charge_id: str, why: str) -> None:
    """Note why the charge is still open and when the retry job asks again (doubling waits, up to a cap)."""
    logger.warning("charge %s still open: %s", charge_id, why)
    async with db.transaction() as session:
        stored = await session.get(Charge, charge_id, with_for_update=True)
        if stored is not None and is_open(stored):
            stored.message = why[:500]
            wait = min(RETRY_FIRST_WAIT * 2 ** max(stored.attempts - 1, 0), RETRY_MAX_WAIT)
            stored.next_attempt_at = clock.now() + wait


async def refused(db: Database, charge_id: str, exc: PaymentRequestError | IdempotencyConflict) -> Charge:
    """The provider refused the charge itself: it is FAILED with a reason people can read, never retried."""
    logger.warning("charge %s refused by the provider: %s", charge_id, exc)
    if isinstance(exc, PaymentRequestError):
        code, message = exc.code or "refused", exc.user_message
    else:
        code, message = (
            "idempotency_conflict",
            "The payment provider refused a repeated request for this payment.",
        )
    if isinstance(exc, CustomerGone):
        async with db.reader() as session:
            organization_id = await session.scalar(
                select(col(Charge.organization_id)).where(col(Charge.id) == charge_id)
            )
        assert organization_id is not None
        await forget_customer(db, organization_id)  # and its cards: they went with it
        message = f"{message} Add the card again."
    return await settle(
        db,
        charge_id,
        status=ChargeStatus.FAILED,
        provider_charge_ref=None,
        decline_code=code[:64],
        message=message,
    )


async def settle(
    db: Database,
    charge_id: str,
    *,
    status: ChargeStatus,
    provider_charge_ref: str | None,
    decline_code: str | None = None,
    message: str | None = None,
    cardholder_present: bool = False,
) -> Charge:
    """Record an open charge's outcome and apply a success, once (later settlements change nothing)."""
    async with db.transaction() as session:
        return await settle_in(
            session,
            charge_id,
            status=status,
            provider_charge_ref=provider_charge_ref,
            decline_code=decline_code,
            message=message,
            cardholder_present=cardholder_present,
        )


def is_open(charge: Charge) -> bool:
    """Whether the charge's outcome may still change: pending, processing, or awaiting the cardholder."""
    return charge.status in OPEN_STATUSES


async def settle_in(
    session: AsyncSession,
    charge_id: str,
    *,
    status: ChargeStatus,
    provider_charge_ref: str | None,
    decline_code: str | None = None,
    message: str | None = None,
    cardholder_present: bool = False,
) -> Charge:
    """``settle`` inside the caller's transaction (a webhook records its event id in the same one).

    ``cardholder_present``: the outcome goes back to an admin at the console (an on-session request),
    who is then not emailed when the payment needs their authentication.
    """
    stored = await session.get(Charge, charge_id, with_for_update=True)
    if stored is None:
        raise LookupError(charge_id)
    if not is_open(stored):
        if status is ChargeStatus.SUCCEEDED and stored.status is not ChargeStatus.SUCCEEDED:
            # money taken for a charge given up on: an operator refunds it or applies it by hand
            logger.error("charge %s succeeded at the provider after it ended %s", stored.id, stored.status)
        return stored
    if status is ChargeStatus.PENDING or status is stored.status:
        return stored  # nothing new
    stored.status = status
    stored.provider_charge_ref = provider_charge_ref or stored.provider_charge_ref
    stored.decline_code, stored.message = decline_code, message
    stored.next_attempt_at = None
    handlers = installed_handlers()
    if is_open(stored):
        if status is ChargeStatus.REQUIRES_ACTION:
            if stored.purpose in handlers.awaiting_cardholder:
                await handlers.awaiting_cardholder[stored.purpose](session, stored)
            if not cardholder_present:
                await _ask_admins_to_authenticate(session, stored)  # made without them: they are told
        return stored
    stored.settled_at = clock.now()
    if status is ChargeStatus.SUCCEEDED:
        await handlers.on_success[stored.purpose](session, stored)
        await issue_receipt(session, stored)  # in this transaction: numbered without gaps
    elif stored.purpose in handlers.on_failure:
        await handlers.on_failure[stored.purpose](session, stored)
    return stored


async def _ask_admins_to_authenticate(session: AsyncSession, charge: Charge) -> None:
    console = get_settings().public_url.rstrip("/")
    await email_notice(
        session,
        charge.organization_id,
        subject="a payment needs your card's authentication",
        body=(
            f"{charge.description} ({format_cents(charge.amount_cents, charge.currency)}) needs the "
            "cardholder's authentication (3-D Secure) before the bank pays it. Nothing is granted until "
            f"it is done: open {console}/#/o/{charge.organization_id}/billing/overview and confirm the payment "
            "under Recent charges."
        ),
        console_path=CONSOLE_PATH,
        notice=None,  # only an admin can authenticate it: the admins, always
    )


def require_success(settled: Charge) -> Charge:
    """The charge if it succeeded; otherwise the typed error the console shows."""
    if settled.status is ChargeStatus.SUCCEEDED:
        return settled
    if settled.status is ChargeStatus.REQUIRES_ACTION:
        raise PaymentFailed(
            "The card needs the cardholder's authentication; use another card or authenticate it in the console.",
            code=ErrorCode.PAYMENT_REQUIRES_ACTION,
            decline_code=settled.decline_code,
        )
    if settled.status in (ChargeStatus.PENDING, ChargeStatus.PROCESSING):
        raise PaymentUnavailable(
            "The charge is still being processed; it completes shortly.", code=ErrorCode.PAYMENT_PENDING
        )
    if settled.status is ChargeStatus.FAILED:
        raise PaymentFailed(
            settled.message or "The payment could not be made.",
            code=ErrorCode.PAYMENT_REFUSED,
            decline_code=settled.decline_code,
        )
    reason = (settled.message or "The card was declined.").strip().rstrip(".")
    raise PaymentFailed(f"{reason}. Try another card.", decline_code=settled.decline_code)


async def _by_key(session: AsyncSession, idempotency_key: str) -> Charge | None:
    query = select(Charge).where(col(Charge.idempotency_key) == idempotency_key).with_for_update()
    return await session.scalar(query)


async def find_by_provider_ref(session: AsyncSession, provider_charge_ref: str) -> Charge | None:
    return await session.scalar(select(Charge).where(col(Charge.provider_charge_ref) == provider_charge_ref))

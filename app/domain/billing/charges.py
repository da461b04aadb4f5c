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
from app.domain.billing.accounts import default_payment_method, ensure_customer
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.errors import Conflict, ErrorCode
from app.payments import types as provider
from app.payments.errors import PaymentProviderError
from app.payments.facade import Payments

logger = logging.getLogger(__name__)

Applier = Callable[[AsyncSession, Charge], Awaitable[None]]

_STATUS = {
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
    """What a settled charge does, by purpose: a success handler for each, a failure handler where needed."""

    on_success: Mapping[ChargePurpose, Applier]
    on_failure: Mapping[ChargePurpose, Applier] = field(default_factory=dict)


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
) -> Charge:
    """Charge the organization's default card once for what the key names; returns the settled charge.

    Raises PaymentUnavailable when the provider did not answer (the charge stays pending).
    A declined charge is returned with its status; `require_success` turns it into an error.
    """
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
    return await _ask_provider(db, payments, pending_id, customer_ref, card_ref)


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
    customer_ref = await ensure_customer(db, pending.organization_id, payments=payments)
    try:
        return await _ask_provider(db, payments, charge_id, customer_ref, card_ref)
    except PaymentUnavailable:
        return pending  # stays PENDING: settled later by retry_pending or the provider's webhook


async def _ask_provider(
    db: Database, payments: Payments, charge_id: str, customer_ref: str, card_ref: str
) -> Charge:
    async with db.transaction() as session:
        pending = await session.get(Charge, charge_id)
        assert pending is not None
    try:
        result = await payments.charge(
            customer_ref=customer_ref,
            amount=pending.amount_cents,
            currency=pending.currency,
            purpose=_PROVIDER_PURPOSE[pending.purpose],
            description=pending.description,
            idempotency_key=pending.idempotency_key,
            payment_method_ref=card_ref,
        )
    except PaymentProviderError as exc:
        logger.warning("charge %s pending: provider error %s", charge_id, exc)
        async with db.transaction() as session:
            stored = await session.get(Charge, charge_id)
            if stored is not None and stored.status is ChargeStatus.PENDING:
                stored.message = f"provider unavailable: {exc}"[:500]
        raise PaymentUnavailable(
            "The payment provider did not answer; the charge will be retried (never twice). Try again shortly."
        ) from exc
    return await settle(
        db,
        charge_id,
        status=_STATUS[result.status],
        provider_charge_ref=result.charge_ref,
        decline_code=result.decline_code,
        message=result.message,
    )


async def settle(
    db: Database,
    charge_id: str,
    *,
    status: ChargeStatus,
    provider_charge_ref: str | None,
    decline_code: str | None = None,
    message: str | None = None,
) -> Charge:
    """Record a pending charge's outcome and apply a success, once (later settlements change nothing)."""
    async with db.transaction() as session:
        return await settle_in(
            session,
            charge_id,
            status=status,
            provider_charge_ref=provider_charge_ref,
            decline_code=decline_code,
            message=message,
        )


async def settle_in(
    session: AsyncSession,
    charge_id: str,
    *,
    status: ChargeStatus,
    provider_charge_ref: str | None,
    decline_code: str | None = None,
    message: str | None = None,
) -> Charge:
    """``settle`` inside the caller's transaction (a webhook records its event id in the same one)."""
    stored = await session.get(Charge, charge_id, with_for_update=True)
    if stored is None:
        raise LookupError(charge_id)
    if stored.status is ChargeStatus.PENDING:
        stored.status = status
        stored.provider_charge_ref = provider_charge_ref or stored.provider_charge_ref
        stored.decline_code, stored.message = decline_code, message
        stored.settled_at = clock.now()
        handlers = installed_handlers()
        if status is ChargeStatus.SUCCEEDED:
            await handlers.on_success[stored.purpose](session, stored)
        elif status is not ChargeStatus.PENDING and stored.purpose in handlers.on_failure:
            await handlers.on_failure[stored.purpose](session, stored)
    return stored


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
    if settled.status is ChargeStatus.PENDING:
        raise PaymentUnavailable("The charge is still being processed; it completes shortly.")
    raise PaymentFailed(
        f"The card was declined ({settled.decline_code or 'declined'}): {settled.message or 'try another card'}.",
        decline_code=settled.decline_code,
    )


async def retry_pending(
    db: Database, *, payments: Payments, older_than: timedelta = timedelta(minutes=1)
) -> int:
    """Ask the provider again, with the same keys, about charges whose outcome is unknown; returns how many settled."""
    cutoff = clock.now() - older_than
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Charge)
            .where(col(Charge.status) == ChargeStatus.PENDING)
            .where(col(Charge.created_at) <= cutoff)
        )
        pending = [(c.id, c.organization_id) for c in rows]
    settled = 0
    for charge_id, _organization_id in pending:
        try:
            result = await collect(db, charge_id, payments=payments)
        except Exception:  # noqa: BLE001  (one charge's trouble must not stop the others)
            logger.exception("retry of pending charge %s failed", charge_id)
            continue
        settled += result.status is not ChargeStatus.PENDING
    return settled


async def _by_key(session: AsyncSession, idempotency_key: str) -> Charge | None:
    query = select(Charge).where(col(Charge.idempotency_key) == idempotency_key).with_for_update()
    return await session.scalar(query)


async def find_by_provider_ref(session: AsyncSession, provider_charge_ref: str) -> Charge | None:
    return await session.scalar(select(Charge).where(col(Charge.provider_charge_ref) == provider_charge_ref))

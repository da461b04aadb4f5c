"""What each provider event does, by event type; each runs in the transaction that records the event.

Event types and payloads are Stripe's (``data.object`` is the object the event is about); another
provider that sends the same types with the same shapes gets the same handling. A handler returns a
short outcome kept with the event for support; an event about nothing of ours changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.billing.charges import find_by_provider_ref, settle_in
from app.domain.billing.models import Charge, ChargeStatus, PaymentMethod
from app.domain.credits.notices import email_admins
from app.domain.provider_events.models import ChargeDispute, ChargeRefund

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Mapping[str, Any]], Awaitable[str]]
_AUTHENTICATION_REQUIRED = "authentication_required"


async def payment_succeeded(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.succeeded: settle our pending charge as paid (its success handler runs once)."""
    charge = await _charge_of_intent(session, obj)
    if charge is None:
        return "no matching charge"
    settled = await settle_in(
        session, charge.id, status=ChargeStatus.SUCCEEDED, provider_charge_ref=obj["id"]
    )
    return f"charge {charge.id} {settled.status.value}"


async def payment_failed(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.payment_failed: settle our pending charge as declined (or needing authentication)."""
    charge = await _charge_of_intent(session, obj)
    if charge is None:
        return "no matching charge"
    error = obj.get("last_payment_error") or {}
    decline_code = error.get("decline_code") or error.get("code") or "card_declined"
    status = (
        ChargeStatus.REQUIRES_ACTION if decline_code == _AUTHENTICATION_REQUIRED else ChargeStatus.DECLINED
    )
    settled = await settle_in(
        session,
        charge.id,
        status=status,
        provider_charge_ref=obj["id"],
        decline_code=decline_code[:64],
        message=(error.get("message") or "The card was declined.")[:500],
    )
    return f"charge {charge.id} {settled.status.value}"


async def charge_refunded(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """charge.refunded: record what was given back since the last report (the event carries the total)."""
    charge = await _charge_of_payment(session, obj)
    if charge is None:
        return "no matching charge"
    of_charge = col(ChargeRefund.charge_id) == charge.id
    recorded = await session.scalar(
        select(func.coalesce(func.sum(col(ChargeRefund.amount_cents)), 0)).where(of_charge)
    )
    new = int(obj.get("amount_refunded") or 0) - int(recorded or 0)
    if new <= 0:
        return f"charge {charge.id}: refunds already recorded"
    refunds = (obj.get("refunds") or {}).get("data") or []
    session.add(
        ChargeRefund(
            charge_id=charge.id,
            organization_id=charge.organization_id,
            provider_refund_ref=refunds[0]["id"] if refunds else None,
            amount_cents=new,
            currency=str(obj.get("currency") or charge.currency),
        )
    )
    return f"charge {charge.id}: refund of {new} recorded"


async def dispute_created(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """charge.dispute.created: record the dispute and tell the organization's admins by email."""
    charge = await _charge_of_payment(session, obj)
    if charge is None:
        return "no matching charge"
    dispute = ChargeDispute(
        charge_id=charge.id,
        organization_id=charge.organization_id,
        provider_dispute_ref=obj["id"],
        amount_cents=int(obj.get("amount") or charge.amount_cents),
        currency=str(obj.get("currency") or charge.currency),
        reason=str(obj.get("reason") or "general")[:64],
        status=str(obj.get("status") or "needs_response")[:64],
    )
    session.add(dispute)
    sent = await email_admins(
        session,
        charge.organization_id,
        subject="a card payment was disputed",
        body=(
            f"The bank of the card that paid {_money(dispute.amount_cents, dispute.currency)} "
            f"({charge.description}, charge {charge.id}) disputes the payment; reason: {dispute.reason}.\n"
            "The amount is held until the dispute is resolved. If you did not ask your bank for it, "
            "contact support with what the payment bought."
        ),
    )
    return f"charge {charge.id}: dispute {dispute.id} recorded, {sent} admin(s) emailed"


async def payment_method_detached(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_method.detached: the card is gone at the provider (e.g. removed in its dashboard): mark it removed."""
    result = await session.execute(
        update(PaymentMethod)
        .where(col(PaymentMethod.provider_ref) == obj["id"])
        .where(col(PaymentMethod.removed_at).is_(None))
        .values(removed_at=clock.now(), is_default=False)
    )
    return f"{result.rowcount} payment method(s) marked removed"  # type: ignore[attr-defined]


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": payment_succeeded,
    "payment_intent.payment_failed": payment_failed,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
    "payment_method.detached": payment_method_detached,
}


async def _charge_of_intent(session: AsyncSession, intent: Mapping[str, Any]) -> Charge | None:
    # The key in the metadata finds a charge whose answer was lost (it has no provider reference yet).
    key = (intent.get("metadata") or {}).get("idempotency_key")
    charge = None
    if key:
        charge = await session.scalar(select(Charge).where(col(Charge.idempotency_key) == key))
    if charge is None:
        charge = await find_by_provider_ref(session, intent["id"])
    if charge is not None and (intent.get("amount"), intent.get("currency")) != (
        charge.amount_cents,
        charge.currency,
    ):
        logger.warning("payment intent %s does not match charge %s: left alone", intent["id"], charge.id)
        return None
    return charge


async def _charge_of_payment(session: AsyncSession, obj: Mapping[str, Any]) -> Charge | None:
    # Refunds and disputes name the PaymentIntent (our reference) and the underlying charge.
    for ref in (obj.get("payment_intent"), obj.get("charge"), obj.get("id")):
        if isinstance(ref, str) and (charge := await find_by_provider_ref(session, ref)) is not None:
            return charge
    return None


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency.upper()}"

"""What each provider event does, by event type; each runs in the transaction that records the event.

Event types and payloads are Stripe's (``data.object`` is the object the event is about); another
provider that sends the same types with the same shapes gets the same handling. A handler returns a
short outcome kept with the event for support; an event about nothing of ours changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.billing.accounts import forget_customer_in
from app.domain.billing.charges import find_by_provider_ref, settle_in
from app.domain.billing.models import Charge, ChargeStatus, PaymentMethod
from app.domain.credits.refunds import follow_refund
from app.domain.provider_events import disputes
from app.domain.provider_events.models import ChargeRefund

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Mapping[str, Any]], Awaitable[str]]
_AUTHENTICATION_REQUIRED = "authentication_required"


async def payment_succeeded(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.succeeded: settle our open charge as paid (its success handler runs once)."""
    return await _settle_intent(session, obj, ChargeStatus.SUCCEEDED)


async def payment_processing(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.processing: the bank answers later; nothing is granted until it does."""
    return await _settle_intent(session, obj, ChargeStatus.PROCESSING)


async def payment_requires_action(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.requires_action: the cardholder must authenticate it (admins are told for off-session ones)."""
    return await _settle_intent(
        session,
        obj,
        ChargeStatus.REQUIRES_ACTION,
        _AUTHENTICATION_REQUIRED,
        "The card needs the cardholder's authentication.",
    )


async def payment_canceled(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.canceled: nothing will be charged."""
    reason = str(obj.get("cancellation_reason") or "canceled")[:64]
    return await _settle_intent(session, obj, ChargeStatus.FAILED, reason, "The payment was canceled.")


async def payment_failed(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_intent.payment_failed: settle our open charge as declined (or needing authentication)."""
    error = obj.get("last_payment_error") or {}
    decline_code = str(error.get("decline_code") or error.get("code") or "card_declined")[:64]
    status = (
        ChargeStatus.REQUIRES_ACTION if decline_code == _AUTHENTICATION_REQUIRED else ChargeStatus.DECLINED
    )
    message = (error.get("message") or "The card was declined.")[:500]
    return await _settle_intent(session, obj, status, decline_code, message)


async def _settle_intent(
    session: AsyncSession,
    obj: Mapping[str, Any],
    status: ChargeStatus,
    decline_code: str | None = None,
    message: str | None = None,
) -> str:
    charge = await _charge_of_intent(session, obj)
    if charge is None:
        return "no matching charge"
    settled = await settle_in(
        session,
        charge.id,
        status=status,
        provider_charge_ref=str(obj["id"]),
        decline_code=decline_code,
        message=message,
    )
    return f"charge {charge.id} {settled.status.value}"


async def refund_updated(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """refund.created / refund.updated / charge.refund.updated: the refund, by its own id, as it stands now."""
    charge = await _charge_of_payment(
        session, {"payment_intent": obj.get("payment_intent"), "charge": obj.get("charge")}
    )
    if charge is None:
        return "no matching charge"
    status = str(obj.get("status") or "pending")[:32]
    refund = await session.scalar(
        select(ChargeRefund).where(col(ChargeRefund.provider_refund_ref) == obj["id"]).with_for_update()
    )
    if refund is None:
        refund = ChargeRefund(
            charge_id=charge.id,
            organization_id=charge.organization_id,
            provider_refund_ref=str(obj["id"]),
            amount_cents=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or charge.currency),
        )
    refund.status, refund.updated_at = status, clock.now()
    session.add(refund)
    await follow_refund(session, str(obj["id"]), status)
    return f"charge {charge.id}: refund {obj['id']} {status}"


async def dispute_created(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """charge.dispute.created: hold what is left of the charge's credits and tell the admins."""
    charge = await _charge_of_payment(session, obj)
    if charge is None:
        return "no matching charge"
    return await disputes.dispute_created(session, charge, obj)


async def early_fraud_warning(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """radar.early_fraud_warning.created: a card network's warning, kept with the event for support."""
    charge = await _charge_of_payment(session, obj)
    if charge is None:
        return "no matching charge"
    logger.warning("early fraud warning on charge %s: %s", charge.id, obj.get("fraud_type"))
    return f"charge {charge.id}: early fraud warning ({str(obj.get('fraud_type') or 'unknown')[:40]})"


async def customer_deleted(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """customer.deleted: forget the customer and its cards; the next set-up creates a new one."""
    forgotten = await forget_customer_in(session, str(obj["id"]))
    return f"{forgotten} billing account(s) forgot customer {obj['id']}"


async def payment_method_updated(session: AsyncSession, obj: Mapping[str, Any]) -> str:
    """payment_method.updated / automatically_updated: keep the card's brand, last four and expiry in step."""
    card = obj.get("card") or {}
    changes = {
        name: value
        for name, value in (
            ("brand", card.get("brand")),
            ("last4", card.get("last4")),
            ("exp_month", card.get("exp_month")),
            ("exp_year", card.get("exp_year")),
        )
        if value
    }
    if not changes:
        return "no card details"
    result = await session.execute(
        update(PaymentMethod)
        .where(col(PaymentMethod.provider_ref) == obj["id"])
        .where(col(PaymentMethod.removed_at).is_(None))
        .values(**changes)
    )
    return f"{result.rowcount} payment method(s) updated"  # type: ignore[attr-defined]


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
    "payment_intent.processing": payment_processing,
    "payment_intent.requires_action": payment_requires_action,
    "payment_intent.payment_failed": payment_failed,
    "payment_intent.canceled": payment_canceled,
    "refund.created": refund_updated,
    "refund.updated": refund_updated,
    "refund.failed": refund_updated,
    "charge.refund.updated": refund_updated,
    "charge.dispute.created": dispute_created,
    "charge.dispute.closed": disputes.dispute_closed,
    "radar.early_fraud_warning.created": early_fraud_warning,
    "customer.deleted": customer_deleted,
    "payment_method.updated": payment_method_updated,
    "payment_method.automatically_updated": payment_method_updated,
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

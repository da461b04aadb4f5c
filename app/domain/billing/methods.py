"""Payment methods as Org Admins manage them: set up with the provider's UI, attach, list, remove, make default.

Only the provider's reference, brand, last four digits and expiry are kept; card details never reach us.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.base import new_id
from app.domain.billing.accounts import attach_payment_method, ensure_customer
from app.domain.billing.errors import unavailable_on_outage
from app.domain.billing.models import Charge, PaymentMethod
from app.domain.errors import InvalidInput, NotFound
from app.domain.orgs.access import require_org_admin
from app.payments.errors import PaymentRequestError
from app.payments.facade import Payments
from app.payments.types import PaymentMethodSetup

CARD_NOT_FOUND = "No payment method with this ID is visible to you."


async def set_up_payment_method(
    db: Database, actor: Actor, organization_id: str, *, payments: Payments
) -> PaymentMethodSetup:
    """What the console needs to collect a card with the provider's own UI (client secret, publishable key)."""
    async with db.reader() as session:
        await require_org_admin(session, actor, organization_id)
    with unavailable_on_outage():
        customer_ref = await ensure_customer(db, organization_id, payments=payments)
        # each set-up is a new one: the console asks again when the user opens the card form again
        return await payments.setup_payment_method(customer_ref=customer_ref, idempotency_key=new_id("setup"))


async def add_payment_method(
    db: Database,
    actor: Actor,
    organization_id: str,
    *,
    payments: Payments,
    provider_ref: str,
    make_default: bool,
) -> PaymentMethod:
    """Attach a card collected by the provider's UI; the organization's first card is its default."""
    async with db.reader() as session:
        await require_org_admin(session, actor, organization_id)
        has_card = await session.scalar(_live(organization_id).limit(1))
    ref = provider_ref.strip()
    if not ref or len(ref) > 255:
        raise InvalidInput("The provider's payment method reference is required.", field="paymentMethodRef")
    try:
        with unavailable_on_outage():
            return await attach_payment_method(
                db,
                organization_id,
                payments=payments,
                provider_ref=ref,
                make_default=make_default or has_card is None,
            )
    except PaymentRequestError as exc:
        raise InvalidInput(
            f"The provider refused this payment method: {exc}", field="paymentMethodRef"
        ) from None


async def payment_methods(session: AsyncSession, organization_id: str) -> Sequence[PaymentMethod]:
    """The organization's cards on file, the default first, then the newest."""
    query = _live(organization_id).order_by(
        col(PaymentMethod.is_default).desc(),
        col(PaymentMethod.created_at).desc(),
        col(PaymentMethod.id),
    )
    return list(await session.scalars(query))


async def get_payment_method(session: AsyncSession, actor: Actor, payment_method_id: str) -> PaymentMethod:
    """A card on file of an organization the actor administers; NotFound for anything else."""
    card = await session.get(PaymentMethod, payment_method_id)
    if card is None or card.removed_at is not None:
        raise NotFound(CARD_NOT_FOUND, field="paymentMethodId")
    await require_org_admin(session, actor, card.organization_id)
    return card


async def remove_payment_method(
    db: Database, actor: Actor, payment_method_id: str, *, payments: Payments
) -> str:
    """Detach a card at the provider and forget it; the newest other card becomes the default. Returns the org."""
    async with db.reader() as session:
        card = await get_payment_method(session, actor, payment_method_id)
        successor = next(
            (c for c in await payment_methods(session, card.organization_id) if c.id != card.id), None
        )
    with unavailable_on_outage():
        customer_ref = await ensure_customer(db, card.organization_id, payments=payments)
        await payments.detach_payment_method(customer_ref=customer_ref, payment_method_ref=card.provider_ref)
        if card.is_default and successor is not None:
            await payments.set_default_payment_method(
                customer_ref=customer_ref, payment_method_ref=successor.provider_ref
            )
    async with db.transaction() as session:
        await session.execute(
            update(PaymentMethod)
            .where(col(PaymentMethod.id) == card.id)
            .values(removed_at=clock.now(), is_default=False)
        )
        if card.is_default and successor is not None:
            await _make_default(session, card.organization_id, successor.id)
    return card.organization_id


async def set_default_payment_method(
    db: Database, actor: Actor, payment_method_id: str, *, payments: Payments
) -> PaymentMethod:
    """Make a card on file the one every charge goes to."""
    async with db.reader() as session:
        card = await get_payment_method(session, actor, payment_method_id)
    with unavailable_on_outage():
        customer_ref = await ensure_customer(db, card.organization_id, payments=payments)
        await payments.set_default_payment_method(
            customer_ref=customer_ref, payment_method_ref=card.provider_ref
        )
    async with db.transaction() as session:
        await _make_default(session, card.organization_id, card.id)
    card.is_default = True
    return card


def billing_history(organization_id: str) -> Select[Any]:
    """Every charge of the organization, newest first."""
    return (
        select(Charge)
        .where(col(Charge.organization_id) == organization_id)
        .order_by(col(Charge.created_at).desc(), col(Charge.id).desc())
    )


def _live(organization_id: str) -> Select[Any]:
    return (
        select(PaymentMethod)
        .where(col(PaymentMethod.organization_id) == organization_id)
        .where(col(PaymentMethod.removed_at).is_(None))
    )


async def _make_default(session: AsyncSession, organization_id: str, payment_method_id: str) -> None:
    await session.execute(
        update(PaymentMethod)
        .where(col(PaymentMethod.organization_id) == organization_id)
        .values(is_default=col(PaymentMethod.id) == payment_method_id)
    )

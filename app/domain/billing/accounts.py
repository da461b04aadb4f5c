"""The organization as the provider's customer, and its cards."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts.models import User
from app.domain.billing.models import BillingAccount, PaymentMethod
from app.domain.errors import Conflict, ErrorCode
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.payments.facade import Payments


async def ensure_customer(db: Database, organization_id: str, *, payments: Payments) -> str:
    """The organization's customer reference at the provider, created once (idempotently) on first need."""
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id)
        if account is not None:
            return account.customer_ref
        organization = await session.get(Organization, organization_id)
        assert organization is not None
        email = await session.scalar(
            select(col(User.email))
            .join(Membership, col(Membership.user_id) == col(User.id))
            .where(col(Membership.organization_id) == organization_id)
            .where(col(Membership.role) == OrganizationRole.ORGANIZATION_ADMIN)
            .order_by(col(Membership.created_at))
            .limit(1)
        )
    # outside any transaction; the key makes a concurrent or repeated call return the same customer
    customer = await payments.create_customer(
        org_id=organization_id,
        name=organization.name,
        email=email or "",
        idempotency_key=f"customer:{organization_id}",
    )
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id)
        if account is None:
            account = BillingAccount(
                organization_id=organization_id,
                customer_ref=customer.customer_ref,
                provider=payments.provider_name,
            )
            session.add(account)
        return account.customer_ref


async def default_payment_method(session: AsyncSession, organization_id: str) -> PaymentMethod:
    """The card charges go to; NO_PAYMENT_METHOD when there is none."""
    card = await session.scalar(
        select(PaymentMethod)
        .where(col(PaymentMethod.organization_id) == organization_id)
        .where(col(PaymentMethod.removed_at).is_(None))
        .order_by(col(PaymentMethod.is_default).desc(), col(PaymentMethod.created_at).desc())
        .limit(1)
    )
    if card is None:
        raise Conflict(
            "The organization has no payment method: add a card first.", code=ErrorCode.NO_PAYMENT_METHOD
        )
    return card


async def attach_payment_method(
    db: Database, organization_id: str, *, payments: Payments, provider_ref: str, make_default: bool = True
) -> PaymentMethod:
    """Attach a card the console collected with the provider's UI; the first card becomes the default."""
    customer_ref = await ensure_customer(db, organization_id, payments=payments)
    info = await payments.attach_payment_method(customer_ref=customer_ref, payment_method_ref=provider_ref)
    if make_default:
        await payments.set_default_payment_method(customer_ref=customer_ref, payment_method_ref=info.ref)
    async with db.transaction() as session:
        existing = await session.scalar(
            select(PaymentMethod)
            .where(col(PaymentMethod.organization_id) == organization_id)
            .where(col(PaymentMethod.provider_ref) == info.ref)
            .where(col(PaymentMethod.removed_at).is_(None))
        )
        if make_default:
            await session.execute(
                update(PaymentMethod)
                .where(col(PaymentMethod.organization_id) == organization_id)
                .values(is_default=False)
            )
        card = existing or PaymentMethod(
            organization_id=organization_id,
            provider_ref=info.ref,
            brand=info.brand,
            last4=info.last4,
            exp_month=info.exp_month,
            exp_year=info.exp_year,
            created_at=clock.now(),
        )
        card.is_default = make_default or card.is_default
        session.add(card)
        await session.flush()
        return card

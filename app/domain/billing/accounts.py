"""The organization as the provider's customer, and its cards."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts.models import User
from app.domain.billing.models import BillingAccount, PaymentMethod
from app.domain.errors import Conflict, ErrorCode
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.payments import types as provider
from app.payments.errors import CustomerGone
from app.payments.facade import Payments

T = TypeVar("T")


async def ensure_customer(db: Database, organization_id: str, *, payments: Payments) -> str:
    """The organization's customer reference at the provider, created once (idempotently) on first need.

    A customer the provider deleted was forgotten (``forget_customer``): a new one is created, and
    the billing address kept here is sent to it.
    """
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id)
        if account is not None and account.customer_ref:
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
        forgotten = account.customer_ref_forgotten if account is not None else None
    # The key names the customer's details: a renamed organization (or a re-creation after a deletion)
    # is a new request, where reusing the old key would be refused for its other parameters.
    details = f"{organization.name}\n{email or ''}\n{forgotten or ''}"
    customer = await payments.create_customer(
        org_id=organization_id,
        name=organization.name,
        email=email or "",
        idempotency_key=f"customer:{organization_id}:{hashlib.sha256(details.encode()).hexdigest()[:16]}",
    )
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id, with_for_update=True)
        if account is None:
            account = BillingAccount(
                organization_id=organization_id,
                customer_ref=customer.customer_ref,
                provider=payments.provider_name,
            )
            session.add(account)
        elif not account.customer_ref:
            account.customer_ref, account.customer_ref_forgotten = customer.customer_ref, None
            session.add(account)
        address = stored_address(account)
    if address is not None and account.customer_ref == customer.customer_ref:
        await payments.update_billing_address(customer_ref=customer.customer_ref, address=address)
    return account.customer_ref


async def with_customer(
    db: Database, organization_id: str, *, payments: Payments, call: Callable[[str], Awaitable[T]]
) -> T:
    """``call(customer_ref)``; when the provider deleted the customer, once more with a new one."""
    try:
        return await call(await ensure_customer(db, organization_id, payments=payments))
    except CustomerGone:
        await forget_customer(db, organization_id)
        return await call(await ensure_customer(db, organization_id, payments=payments))


def stored_address(account: BillingAccount) -> provider.BillingAddress | None:
    """The billing address kept for the organization, if one was set."""
    if not (
        account.address_name and account.address_line1 and account.address_city and account.address_country
    ):
        return None
    return provider.BillingAddress(
        name=account.address_name,
        line1=account.address_line1,
        line2=account.address_line2 or "",
        city=account.address_city,
        postal_code=account.address_postal_code or "",
        state=account.address_state or "",
        country=account.address_country,
    )


async def forget_customer(db: Database, organization_id: str) -> None:
    """The provider deleted the organization's customer: forget it and its cards (a new one comes on next need)."""
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id, with_for_update=True)
        if account is not None and account.customer_ref:
            await forget_customer_in(session, account.customer_ref)


async def forget_customer_in(session: AsyncSession, customer_ref: str) -> int:
    """``forget_customer`` by the provider's reference, in the caller's transaction; returns how many accounts."""
    accounts = list(
        await session.scalars(select(BillingAccount).where(col(BillingAccount.customer_ref) == customer_ref))
    )
    for account in accounts:
        account.customer_ref_forgotten, account.customer_ref = account.customer_ref, ""
        account.updated_at = clock.now()
        session.add(account)
        # the deleted customer's cards went with it
        await session.execute(
            update(PaymentMethod)
            .where(col(PaymentMethod.organization_id) == account.organization_id)
            .where(col(PaymentMethod.removed_at).is_(None))
            .values(removed_at=clock.now(), is_default=False)
        )
    return len(accounts)


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

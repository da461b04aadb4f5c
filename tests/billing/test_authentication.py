"""3-D Secure, refusals and retries over the fake provider: the domain's behaviour whatever the provider."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing import retries
from app.domain.billing.authentication import complete_payment
from app.domain.billing.errors import PaymentActionRequired, PaymentFailed, PaymentUnavailable
from app.domain.billing.models import BillingAccount, Charge, ChargeStatus
from app.domain.credits.models import CreditGrant
from app.domain.credits.purchases import complete_purchase
from app.domain.errors import Conflict, ErrorCode, Forbidden, NotFound
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, buy, card, check_ledger
from tests.support import World


def fake(payments: Payments) -> Any:
    return payments.provider


async def grants(database: Database) -> list[CreditGrant]:
    async with database.reader() as session:
        return list(await session.scalars(select(CreditGrant)))


async def test_a_purchase_needing_authentication_is_granted_once_it_is_authenticated(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id, "pm_card_authenticationRequired")

    with pytest.raises(PaymentActionRequired) as asked:
        await buy(database, payments, world, settings, "50", key="click-3ds-0001")
    with pytest.raises(PaymentActionRequired):  # not authenticated yet
        await complete_payment(database, admin(world), asked.value.charge_id, payments=payments)
    async with database.reader() as session:
        charge = await session.get(Charge, asked.value.charge_id)
    assert charge is not None and charge.provider_charge_ref is not None
    fake(payments).complete_authentication(charge.provider_charge_ref)
    purchase = await complete_purchase(database, admin(world), asked.value.charge_id, payments=payments)
    again = await complete_purchase(database, admin(world), asked.value.charge_id, payments=payments)

    assert asked.value.client_secret and asked.value.code is ErrorCode.PAYMENT_REQUIRES_ACTION
    assert purchase.grant and again.grant and purchase.grant.id == again.grant.id
    assert purchase.grant.amount_nanos == 50 * DOLLAR and purchase.balance_nanos == 50 * DOLLAR
    assert len(await grants(database)) == 1 and len(fake(payments).recorded_charges()) == 1
    await check_ledger(database)


async def test_only_the_organizations_admins_complete_its_payments(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id, "pm_card_authenticationRequired")
    with pytest.raises(PaymentActionRequired) as asked:
        await buy(database, payments, world, settings, "50")

    with pytest.raises(NotFound):
        await complete_payment(database, admin(world), "ch_not_there", payments=payments)
    for who in ("outsider", "project_admin"):
        with pytest.raises((NotFound, Forbidden)):
            await complete_payment(
                database, Actor(world.people[who].user_id), asked.value.charge_id, payments=payments
            )


async def test_a_customer_deleted_at_the_provider_fails_the_purchase_once_and_is_replaced(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    async with database.reader() as session:
        account = await session.get(BillingAccount, world.acme_id)
    assert account is not None
    fake(payments).delete_customer(account.customer_ref)

    with pytest.raises(PaymentFailed) as refused:
        await buy(database, payments, world, settings, "25")
    with pytest.raises(Conflict) as no_card:
        await buy(database, payments, world, settings, "25")
    await card(database, payments, world.acme_id)
    bought = await buy(database, payments, world, settings, "25")

    assert refused.value.code is ErrorCode.PAYMENT_REFUSED and ".." not in refused.value.message
    assert no_card.value.code is ErrorCode.NO_PAYMENT_METHOD
    assert bought.grant.amount_nanos == 25 * DOLLAR
    assert await retries.retry_pending(database, payments=payments) == 0
    async with database.reader() as session:
        statuses = sorted(s.value for s in await session.scalars(select(Charge.status)))
    assert statuses == ["FAILED", "SUCCEEDED"]


async def test_retries_back_off_and_a_charge_that_never_reached_the_provider_is_given_up_after_a_day(
    database: Database, payments: Payments, world: World, settings: Settings, clock: FrozenClock
) -> None:
    await card(database, payments, world.acme_id)
    fake(payments).faults.fail_next(1, "error", operation="create_charge")
    with pytest.raises(PaymentUnavailable):
        await buy(database, payments, world, settings, "25", key="click-down-0001")
    attempts = []
    for _ in range(6):  # the provider stays down; the job runs every two minutes
        clock.advance(minutes=2)
        fake(payments).faults.fail_next(1, "error", operation="create_charge")
        await retries.retry_pending(database, payments=payments)
        async with database.reader() as session:
            attempts.append((await session.scalar(select(Charge.attempts))) or 0)
    fake(payments).faults.clear()
    clock.advance(hours=24)

    assert attempts == [2, 3, 3, 4, 4, 4]  # waits of 1, 2, 4 … minutes
    assert await retries.retry_pending(database, payments=payments) == 1
    async with database.reader() as session:
        given_up = await session.scalar(select(Charge))
    assert (
        given_up is not None and given_up.status is ChargeStatus.FAILED and given_up.decline_code == "expired"
    )
    assert fake(payments).recorded_charges() == [] and await grants(database) == []

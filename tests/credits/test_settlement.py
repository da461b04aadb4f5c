"""Debt is charged once after the month it dates from ends; cleared only when the charge succeeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.domain.billing import charges
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.ledger import balance_of
from app.domain.credits.models import CreditAccount
from app.domain.credits.settlement import settle_debts
from app.domain.notifications.models import OutboxMessage
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, burn, buy, card, check_ledger, provider_charges
from tests.support import World

DECEMBER_FIRST = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


async def account(db: Database, organization_id: str) -> CreditAccount:
    async with db.reader() as session:
        found = await session.get(CreditAccount, organization_id)
        assert found is not None
        return found


async def settlement_charges(db: Database) -> list[Charge]:
    async with db.reader() as session:
        query = select(Charge).where(Charge.purpose == ChargePurpose.SETTLEMENT).order_by(Charge.created_at)  # type: ignore[arg-type]
        return list(await session.scalars(query))


async def test_the_debt_is_charged_after_the_month_ends_once(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "10")
    await burn(database, world.acme_id, 12 * DOLLAR + 345_000_000)
    assert await settle_debts(database, payments=payments, settings=settings) == 0  # November is not over
    clock.at = DECEMBER_FIRST
    assert await settle_debts(database, payments=payments, settings=settings) == 1
    assert await settle_debts(database, payments=payments, settings=settings) == 0
    [settled] = await settlement_charges(database)
    assert (settled.idempotency_key, settled.amount_cents, settled.status) == (
        f"settlement:{world.acme_id}:2026-11",
        234,
        ChargeStatus.SUCCEEDED,
    )
    assert [c.amount for c in provider_charges(payments)] == [1000, 234]
    left = await account(database, world.acme_id)
    assert (left.debt_nanos, left.balance_nanos) == (5_000_000, -5_000_000)  # half a cent waits for later
    await check_ledger(database)


async def test_debt_of_this_month_waits_for_its_end(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    clock.at = DECEMBER_FIRST
    await burn(database, world.acme_id, 3 * DOLLAR)
    assert await settle_debts(database, payments=payments, settings=settings) == 0
    clock.at = datetime(2027, 1, 1, 3, 0, tzinfo=UTC)
    assert await settle_debts(database, payments=payments, settings=settings) == 1
    assert [c.idempotency_key for c in await settlement_charges(database)] == [
        f"settlement:{world.acme_id}:2026-12"
    ]
    await check_ledger(database)


async def test_a_failed_settlement_is_retried_later_and_the_admins_are_told(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id, "pm_card_chargeDeclinedInsufficientFunds")
    await burn(database, world.acme_id, 3 * DOLLAR)
    clock.at = DECEMBER_FIRST
    assert await settle_debts(database, payments=payments, settings=settings) == 1
    assert (await account(database, world.acme_id)).debt_nanos == 3 * DOLLAR
    async with database.reader() as session:
        mail = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.to_address == "admin@example.com")
            )
        )
    assert len(mail) == 1 and "could not be charged" in mail[0].subject
    assert await settle_debts(database, payments=payments, settings=settings, retry=True) == 0  # too soon
    await card(database, payments, world.acme_id)  # a working card becomes the default
    clock.advance(hours=25)
    assert await settle_debts(database, payments=payments, settings=settings) == 0  # first attempts only
    assert await settle_debts(database, payments=payments, settings=settings, retry=True) == 1
    assert [(c.idempotency_key, c.status) for c in await settlement_charges(database)] == [
        (f"settlement:{world.acme_id}:2026-11", ChargeStatus.DECLINED),
        (f"settlement:{world.acme_id}:2026-11:retry-1", ChargeStatus.SUCCEEDED),
    ]
    assert (await account(database, world.acme_id)).debt_nanos == 0
    await check_ledger(database)


async def test_a_purchase_during_a_pending_settlement_does_not_pay_the_debt_twice(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    await burn(database, world.acme_id, 3 * DOLLAR)
    clock.at = DECEMBER_FIRST
    payments.provider.faults.fail_next(1, "lost_response", operation="charge")  # type: ignore[attr-defined]
    assert await settle_debts(database, payments=payments, settings=settings) == 1
    assert (await account(database, world.acme_id)).settling_nanos == 3 * DOLLAR
    purchase = await buy(database, payments, world, settings, "10")
    assert purchase.grant.remaining_nanos == 10 * DOLLAR  # the pending settlement collects the debt
    await check_ledger(database)
    clock.advance(minutes=5)
    assert await charges.retry_pending(database, payments=payments) == 1
    settled = await account(database, world.acme_id)
    assert (settled.debt_nanos, settled.settling_nanos, settled.balance_nanos) == (0, 0, 10 * DOLLAR)
    await check_ledger(database)


async def test_a_settlement_that_fails_while_credits_exist_is_paid_from_them(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    await burn(database, world.acme_id, 3 * DOLLAR)
    clock.at = DECEMBER_FIRST
    payments.provider.faults.fail_next(1, "timeout", operation="charge")  # type: ignore[attr-defined]
    assert await settle_debts(database, payments=payments, settings=settings) == 1
    await buy(database, payments, world, settings, "10")
    [pending] = await settlement_charges(database)
    await charges.settle(
        database,
        pending.id,
        status=ChargeStatus.DECLINED,
        provider_charge_ref=None,
        decline_code="do_not_honor",
    )
    after = await account(database, world.acme_id)
    assert (after.debt_nanos, after.settling_nanos, after.balance_nanos) == (0, 0, 7 * DOLLAR)
    async with database.reader() as session:
        assert await balance_of(session, world.acme_id) == 7 * DOLLAR
    await check_ledger(database)

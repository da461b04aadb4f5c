"""Auto-recharge: once per crossing however many burns arrive, bounded by a monthly cap, off after three failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.domain.credits.auto_recharge import (
    auto_recharge_config,
    configure_auto_recharge,
    disable_auto_recharge,
    maybe_auto_recharge,
)
from app.domain.credits.ledger import balance_of, burn_credits
from app.domain.credits.models import AttemptStatus, AutoRechargeAttempt, CreditAccount
from app.domain.notifications.models import OutboxMessage
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, burn, card, check_ledger, provider_charges
from tests.support import World


async def enable(
    db: Database,
    payments: Payments,
    world: World,
    settings: Settings,
    threshold: str = "10",
    recharge_to: str = "20",
    cap: str | None = None,
) -> AutoRechargeAttempt | None:
    config = auto_recharge_config(
        threshold=threshold, recharge_to=recharge_to, monthly_cap=cap, settings=settings
    )
    return await configure_auto_recharge(
        db, admin(world), world.acme_id, config, payments=payments, settings=settings
    )


async def balance(db: Database, organization_id: str) -> int:
    async with db.reader() as session:
        return await balance_of(session, organization_id)


async def account(db: Database, organization_id: str) -> CreditAccount:
    async with db.reader() as session:
        found = await session.get(CreditAccount, organization_id)
        assert found is not None
        return found


async def burn_then_recharge(
    db: Database, payments: Payments, world: World, settings: Settings, nanos: int
) -> Any:
    result = await burn(db, world.acme_id, nanos)
    if result.auto_recharge_due:
        return await maybe_auto_recharge(db, world.acme_id, payments=payments, settings=settings)
    return None


async def test_enabling_below_the_threshold_recharges_at_once(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    attempt = await enable(database, payments, world, settings)
    assert attempt is not None and (attempt.status, attempt.amount_nanos) == (
        AttemptStatus.SUCCEEDED,
        20 * DOLLAR,
    )
    assert await balance(database, world.acme_id) == 20 * DOLLAR
    assert await enable(database, payments, world, settings) is None  # above the threshold: nothing to do
    await check_ledger(database)


async def test_a_burn_below_the_threshold_recharges_up_to_the_amount(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await enable(database, payments, world, settings)
    assert await burn_then_recharge(database, payments, world, settings, 9 * DOLLAR) is None
    attempt = await burn_then_recharge(database, payments, world, settings, 3 * DOLLAR + 1)
    assert attempt.status is AttemptStatus.SUCCEEDED
    assert attempt.amount_nanos == 12 * DOLLAR + 10_000_000  # the difference, rounded up to a cent
    assert [c.amount for c in provider_charges(payments)] == [2000, 1201]
    assert attempt.attempt_no == 2
    await check_ledger(database)


async def test_fifty_concurrent_burns_across_the_threshold_charge_once(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await enable(database, payments, world, settings)
    assert len(provider_charges(payments)) == 1

    async def usage(i: int) -> None:
        async with database.transaction() as session:
            result = await burn_credits(session, world.acme_id, 40 * 10**7, f"batch-{i}")
        if result.auto_recharge_due:
            await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings)

    await asyncio.gather(*(usage(i) for i in range(50)))
    assert len(provider_charges(payments)) == 2, "exactly one recharge for the crossing"
    async with database.reader() as session:
        attempts = list(await session.scalars(select(AutoRechargeAttempt)))
    assert [a.status for a in attempts] == [AttemptStatus.SUCCEEDED, AttemptStatus.SUCCEEDED]
    assert await balance(database, world.acme_id) >= 10 * DOLLAR
    await check_ledger(database)


async def test_the_monthly_cap_bounds_what_auto_recharge_spends(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    await enable(database, payments, world, settings, threshold="5", recharge_to="20", cap="25")
    clamped = await burn_then_recharge(database, payments, world, settings, 16 * DOLLAR)
    assert (clamped.status, clamped.amount_nanos) == (AttemptStatus.SUCCEEDED, 5 * DOLLAR)
    skipped = await burn_then_recharge(database, payments, world, settings, 5 * DOLLAR)
    assert skipped.status is AttemptStatus.SKIPPED and "cap" in skipped.message
    assert (await burn(database, world.acme_id, DOLLAR)).auto_recharge_due is False  # paused until next month
    clock.at = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    resumed = await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings)
    assert resumed is not None and resumed.status is AttemptStatus.SUCCEEDED
    assert resumed.amount_nanos == 20 * DOLLAR - (
        await balance(database, world.acme_id) - resumed.amount_nanos
    )
    assert [c.amount for c in provider_charges(payments)] == [2000, 500, 1700]
    await check_ledger(database)


async def test_three_failures_in_a_row_switch_it_off_and_each_is_emailed(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id, "pm_card_chargeDeclinedInsufficientFunds")
    first = await enable(database, payments, world, settings)
    assert first is not None and (first.status, first.decline_code) == (
        AttemptStatus.FAILED,
        "insufficient_funds",
    )
    assert (
        await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings) is None
    )  # paused
    clock.advance(minutes=61)
    second = await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings)
    assert second is not None and second.status is AttemptStatus.FAILED
    assert (await account(database, world.acme_id)).auto_recharge_enabled
    clock.advance(minutes=61)
    third = await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings)
    assert third is not None and third.status is AttemptStatus.FAILED
    off = await account(database, world.acme_id)
    assert (off.auto_recharge_enabled, off.auto_recharge_failures, off.auto_recharge_in_flight) == (
        False,
        3,
        False,
    )
    clock.advance(minutes=61)
    assert await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings) is None
    async with database.reader() as session:
        mail = select(OutboxMessage).where(OutboxMessage.to_address == "admin@example.com")
        subjects = [m.subject for m in await session.scalars(mail.order_by(OutboxMessage.created_at))]  # type: ignore[arg-type]
    assert len(subjects) == 3 and subjects[-1].endswith("auto-recharge failed and was switched off")
    assert await balance(database, world.acme_id) == 0
    await check_ledger(database)


async def test_a_success_resets_the_failures_and_disabling_stops_it(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id, "pm_card_chargeDeclined")
    await enable(database, payments, world, settings)
    await card(database, payments, world.acme_id)
    clock.advance(minutes=61)
    recovered = await maybe_auto_recharge(database, world.acme_id, payments=payments, settings=settings)
    assert recovered is not None and recovered.status is AttemptStatus.SUCCEEDED
    assert (await account(database, world.acme_id)).auto_recharge_failures == 0
    async with database.transaction() as session:
        await disable_auto_recharge(session, admin(world), world.acme_id)
    assert (await burn(database, world.acme_id, 15 * DOLLAR)).auto_recharge_due is False
    await check_ledger(database)


async def test_no_card_is_a_failed_attempt(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    attempt = await enable(database, payments, world, settings)
    assert (
        attempt is not None and attempt.status is AttemptStatus.FAILED and "payment method" in attempt.message
    )
    assert provider_charges(payments) == []
    await check_ledger(database)

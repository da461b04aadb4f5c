"""Burning usage: promotional first, then the soonest expiry, then the oldest; what is short becomes debt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.actor import Actor
from app.domain.credits.expiry import expire_grants
from app.domain.credits.ledger import balance_of, burn_credits
from app.domain.credits.models import (
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantState,
)
from app.domain.credits.purchases import grant_promotional_credits
from app.domain.credits.queries import consumptions_of_entry
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, burn, buy, card, check_ledger
from tests.support import World


async def promote(
    db: Database, world: World, settings: Settings, amount: str, expires_at: datetime
) -> CreditGrant:
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with db.transaction() as session:
        return await grant_promotional_credits(
            session,
            staff,
            world.acme_id,
            amount=amount,
            expires_at=expires_at,
            note="promo",
            settings=settings,
        )


async def grant(db: Database, grant_id: str) -> CreditGrant:
    async with db.reader() as session:
        found = await session.get(CreditGrant, grant_id)
        assert found is not None
        return found


async def account(db: Database, organization_id: str) -> CreditAccount:
    async with db.reader() as session:
        found = await session.get(CreditAccount, organization_id)
        assert found is not None
        return found


async def test_burn_order_promotional_then_soonest_expiry_then_oldest(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    far = clock.now() + timedelta(days=600)
    old_paid = (await buy(database, payments, world, settings, "10")).grant
    clock.advance(days=1)
    new_paid = (await buy(database, payments, world, settings, "10")).grant  # expires a day later
    promo_late = await promote(database, world, settings, "3", far)
    clock.advance(hours=1)
    promo_later = await promote(database, world, settings, "2", far)  # same expiry, newer
    result = await burn(database, world.acme_id, 14 * DOLLAR, "batch-1")
    assert result.balance_nanos == 11 * DOLLAR
    assert [
        (await grant(database, g.id)).remaining_nanos for g in (promo_late, promo_later, old_paid, new_paid)
    ] == [
        0,
        0,
        1 * DOLLAR,
        10 * DOLLAR,
    ]
    async with database.reader() as session:
        entry = await session.scalar(
            select(CreditLedgerEntry).where(CreditLedgerEntry.kind == EntryKind.USAGE)
        )
        assert entry is not None
        assert (entry.amount_nanos, entry.balance_after_nanos, entry.reference) == (
            -14 * DOLLAR,
            11 * DOLLAR,
            "batch-1",
        )
        used = [(c.grant_id, c.amount_nanos) for c in await consumptions_of_entry(session, entry.id)]
    assert sorted(used) == sorted(
        [(promo_late.id, 3 * DOLLAR), (promo_later.id, 2 * DOLLAR), (old_paid.id, 9 * DOLLAR)]
    )
    assert (await grant(database, promo_late.id)).state is GrantState.DEPLETED
    await check_ledger(database)


async def test_a_burn_beyond_the_balance_is_a_debt_that_the_next_grant_pays(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "10")
    result = await burn(database, world.acme_id, 12 * DOLLAR + 5)
    assert result.balance_nanos == -2 * DOLLAR - 5
    assert (await account(database, world.acme_id)).debt_nanos == 2 * DOLLAR + 5
    await check_ledger(database)
    purchase = await buy(database, payments, world, settings, "10")
    assert purchase.balance_nanos == 8 * DOLLAR - 5
    assert purchase.grant.remaining_nanos == 8 * DOLLAR - 5  # the debt was paid from it
    assert (await account(database, world.acme_id)).debt_nanos == 0
    await check_ledger(database)


async def test_an_organization_without_credits_burns_into_debt(database: Database, world: World) -> None:
    result = await burn(database, world.acme_id, 700)
    assert result.balance_nanos == -700 and not result.auto_recharge_due
    zero = await burn(database, world.acme_id, 0)
    assert zero.balance_nanos == -700
    with pytest.raises(ValueError):
        await burn(database, world.acme_id, -1)
    async with database.reader() as session:
        assert await balance_of(session, world.acme_id) == -700
        assert await balance_of(session, world.evil_id) == 0
    await check_ledger(database)


async def test_expired_credits_leave_the_balance_once(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    bought = (await buy(database, payments, world, settings, "30")).grant
    await burn(database, world.acme_id, 5 * DOLLAR)
    clock.advance(days=200)
    later = (await buy(database, payments, world, settings, "10")).grant
    assert await expire_grants(database) == 0
    clock.at = datetime(2027, 11, 23, 12, 0, tzinfo=UTC)  # the first purchase's first birthday
    # not yet swept by the job, an expired grant is no longer burned
    result = await burn(database, world.acme_id, 1 * DOLLAR)
    assert (await grant(database, later.id)).remaining_nanos == 9 * DOLLAR
    assert result.balance_nanos == 34 * DOLLAR
    assert await expire_grants(database) == 1
    assert await expire_grants(database) == 0
    expired = await grant(database, bought.id)
    assert (expired.state, expired.remaining_nanos) == (GrantState.EXPIRED, 0)
    async with database.reader() as session:
        entries = list(
            await session.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.kind == EntryKind.EXPIRY))
        )
        assert [(e.amount_nanos, e.grant_id) for e in entries] == [(-25 * DOLLAR, bought.id)]
        assert await balance_of(session, world.acme_id) == 9 * DOLLAR
    await check_ledger(database)


async def test_concurrent_burns_lose_no_update(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    import asyncio

    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "10")

    async def one(i: int) -> None:
        async with database.transaction() as session:
            await burn_credits(session, world.acme_id, 7 * 10**7 + i, f"b{i}")

    await asyncio.gather(*(one(i) for i in range(40)))
    async with database.reader() as session:
        assert await balance_of(session, world.acme_id) == 10 * DOLLAR - sum(7 * 10**7 + i for i in range(40))
        assert len(list(await session.scalars(select(CreditConsumption)))) == 40
    await check_ledger(database)

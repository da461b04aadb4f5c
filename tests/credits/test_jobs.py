"""The credit jobs: idempotent, driven by the injected clock, each email once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.domain.notifications.models import OutboxMessage
from app.jobs import run_job
from app.services import Services
from app.settings import Settings
from tests.credits.support import DOLLAR, burn, buy, card, check_ledger
from tests.support import World


async def admin_mail(db: Database) -> list[OutboxMessage]:
    async with db.reader() as session:
        query = select(OutboxMessage).where(OutboxMessage.to_address == "admin@example.com")
        return list(await session.scalars(query.order_by(OutboxMessage.created_at)))  # type: ignore[arg-type]


async def test_expiry_notices_go_out_30_then_7_days_ahead_once_each(
    database: Database, services: Services, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, services.payments, world.acme_id)
    grant = (await buy(database, services.payments, world, settings, "10")).grant
    assert await run_job("credits-expiry-notices", database, services) == "0 grant(s) announced"
    clock.at = grant.expires_at - timedelta(days=29)
    assert await run_job("credits-expiry-notices", database, services) == "1 grant(s) announced"
    assert await run_job("credits-expiry-notices", database, services) == "0 grant(s) announced"
    clock.at = grant.expires_at - timedelta(days=6)
    assert await run_job("credits-expiry-notices", database, services) == "1 grant(s) announced"
    assert await run_job("credits-expiry-notices", database, services) == "0 grant(s) announced"
    mail = await admin_mail(database)
    assert [m.subject for m in mail] == ["Acme: credits expire soon"] * 2
    assert "$10.00 left of $10.00" in mail[0].body_text
    clock.at = grant.expires_at
    assert await run_job("credits-expire", database, services) == "1 grant(s) expired"
    assert await run_job("credits-expire", database, services) == "0 grant(s) expired"
    await check_ledger(database)


async def test_a_grant_close_to_expiry_gets_only_the_7_day_notice(
    database: Database, services: Services, world: World, settings: Settings, clock: Any
) -> None:
    from app.domain.actor import Actor
    from app.domain.credits.purchases import grant_promotional_credits

    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with database.transaction() as session:
        await grant_promotional_credits(
            session, staff, world.acme_id, amount="5", expires_at=clock.now() + timedelta(days=5), note="x",
            settings=settings,
        )  # fmt: skip
    assert await run_job("credits-expiry-notices", database, services) == "1 grant(s) announced"
    clock.advance(days=1)
    assert await run_job("credits-expiry-notices", database, services) == "0 grant(s) announced"


async def test_the_low_balance_email_goes_once_per_dip(
    database: Database, services: Services, world: World, settings: Settings
) -> None:
    assert (
        await run_job("credits-low-balance", database, services) == "0 low-balance email(s)"
    )  # never had credits
    await card(database, services.payments, world.acme_id)
    await buy(database, services.payments, world, settings, "10")
    await burn(database, world.acme_id, 6 * DOLLAR)
    assert await run_job("credits-low-balance", database, services) == "1 low-balance email(s)"
    assert await run_job("credits-low-balance", database, services) == "0 low-balance email(s)"
    await buy(database, services.payments, world, settings, "10")
    assert await run_job("credits-low-balance", database, services) == "0 low-balance email(s)"
    await burn(database, world.acme_id, 10 * DOLLAR)
    assert await run_job("credits-low-balance", database, services) == "1 low-balance email(s)"
    mail = await admin_mail(database)
    assert [m.subject for m in mail] == ["Acme: your credit balance is low"] * 2
    assert "$4.00" in mail[0].body_text


async def test_the_sweep_recharges_what_no_burn_handed_over(
    database: Database, services: Services, world: World, settings: Settings, clock: Any
) -> None:
    from app.domain.credits.auto_recharge import auto_recharge_config, configure_auto_recharge
    from tests.credits.support import admin

    await card(database, services.payments, world.acme_id)
    await buy(database, services.payments, world, settings, "30")
    config = auto_recharge_config(threshold="10", recharge_to="30", monthly_cap=None, settings=settings)
    await configure_auto_recharge(
        database, admin(world), world.acme_id, config, payments=services.payments, settings=settings
    )
    result = await burn(
        database, world.acme_id, 25 * DOLLAR
    )  # the caller "crashes" before maybe_auto_recharge
    assert result.auto_recharge_due
    assert await run_job("credits-auto-recharge", database, services) == "1 auto-recharge(s) made"
    assert await run_job("credits-auto-recharge", database, services) == "0 auto-recharge(s) made"
    await check_ledger(database)


async def test_month_end_jobs_settle_and_retry(
    database: Database, services: Services, world: World, settings: Settings, clock: Any
) -> None:
    from datetime import UTC, datetime

    await card(database, services.payments, world.acme_id)
    await burn(database, world.acme_id, 2 * DOLLAR)
    clock.at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert await run_job("credits-retry-settlements", database, services) == "0 settlement(s) retried"
    assert await run_job("credits-settle-month", database, services) == "1 settlement(s) charged"
    assert await run_job("credits-settle-month", database, services) == "0 settlement(s) charged"
    await check_ledger(database)

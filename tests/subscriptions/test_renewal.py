"""Renewal: charged once per period; a failure makes it past due, retried daily, then canceled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from app.db import Database
from app.domain.billing.models import ChargeStatus
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.jobs import load_jobs, run_job
from app.services import Services
from tests.subscriptions.support import (
    emails,
    provider_charges,
    reload,
    renew,
    subscribe,
    subscription_charges,
    taken,
    use_card,
)
from tests.support import World


async def test_a_renewal_charges_the_next_period_once(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    clock.at = datetime(2026, 12, 23, 11, 59, tzinfo=UTC)
    assert await renew(database, services) == {}  # not due yet
    clock.at = subscription.current_period_end
    assert await renew(database, services) == {"renewed": 1}
    assert await renew(database, services) == {}
    renewed = await reload(database, subscription.id)
    assert renewed.state is SubscriptionState.ACTIVE and renewed.period_number == 2
    assert renewed.current_period_start == datetime(2026, 12, 23, 12, tzinfo=UTC)
    assert renewed.current_period_end == renewed.next_charge_at == datetime(2027, 1, 23, 12, tzinfo=UTC)
    renewal = (await subscription_charges(database, world.acme_id))[-1]
    assert (renewal.amount_cents, renewal.status) == (5_000, ChargeStatus.SUCCEEDED)
    assert renewal.idempotency_key == f"subscription:{subscription.id}:period:2:attempt:1"
    assert len(provider_charges(services)) == 2


async def test_replicas_renewing_at_once_charge_once(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    clock.at = subscription.current_period_end
    await asyncio.gather(*(renew(database, services) for _ in range(4)))
    assert (await reload(database, subscription.id)).period_number == 2
    assert len(provider_charges(services)) == 2


async def test_a_month_is_a_calendar_month_from_the_anchor(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    clock.at = datetime(2027, 1, 31, 9, tzinfo=UTC)
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    assert subscription.current_period_end == datetime(2027, 2, 28, 9, tzinfo=UTC)
    clock.at = subscription.current_period_end
    await renew(database, services)
    assert (await reload(database, subscription.id)).current_period_end == datetime(
        2027, 3, 31, 9, tzinfo=UTC
    )


async def test_failure_makes_it_past_due_then_retries_daily_then_cancels(
    database: Database, services: Services, world: World, clock: Any, balances: dict[str, int]
) -> None:
    from app.domain.orgs.models import Organization
    from app.domain.plans import PlanKind, who_pays

    async def plan() -> PlanKind:
        async with database.reader() as session:
            organization = await session.get(Organization, world.acme_id)
            assert organization is not None
            found = await who_pays(
                session, services.catalog, organization=organization, model_id="gpt-oss-120b", at=clock.at
            )
            return found.kind

    balances[world.acme_id] = 1  # some credit: once canceled, PayGo takes over
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclinedInsufficientFunds")
    clock.at = subscription.current_period_end
    assert await renew(database, services) == {"payment failed": 1}
    past_due = await reload(database, subscription.id)
    assert (past_due.state, past_due.failed_renewals) == (SubscriptionState.PAST_DUE, 1)
    assert past_due.next_charge_at == datetime(2026, 12, 24, 12, tzinfo=UTC)
    assert await plan() is PlanKind.SUBSCRIPTION  # it keeps working while retried
    assert await renew(database, services) == {}  # the retry waits a day
    for attempt in (2, 3):
        clock.advance(days=1)
        assert await renew(database, services) == {"payment failed": 1}
        assert (await reload(database, subscription.id)).failed_renewals == attempt
    clock.advance(days=1)
    await renew(database, services)  # the third retry fails too: canceled
    ended = await reload(database, subscription.id)
    assert (ended.state, ended.end_reason) == (SubscriptionState.CANCELED, EndReason.PAYMENT_FAILED)
    assert await taken(database) == 0
    assert await plan() is PlanKind.PAYGO
    keys = [c.idempotency_key for c in await subscription_charges(database, world.acme_id)][1:]
    assert keys == [f"subscription:{subscription.id}:period:2:attempt:{n}" for n in (1, 2, 3, 4)]
    subjects = [m.subject for m in await emails(database)]
    assert subjects == ["Acme: subscription to gpt-oss-120b past due: payment failed"] * 3 + [
        "Acme: subscription to gpt-oss-120b canceled: payment failed"
    ]
    clock.advance(days=1)
    assert await renew(database, services) == {}


async def test_a_retry_that_succeeds_restores_it_from_the_original_period_end(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    clock.at = subscription.current_period_end
    await renew(database, services)
    await use_card(database, services, world.acme_id, "pm_card_visa")  # the admin fixes the card
    clock.advance(days=1)
    assert await renew(database, services) == {"renewed": 1}
    renewed = await reload(database, subscription.id)
    assert (renewed.state, renewed.failed_renewals, renewed.period_number) == (SubscriptionState.ACTIVE, 0, 2)
    assert renewed.current_period_start == subscription.current_period_end  # no free days, no lost ones
    assert [m.subject.rsplit(": ", 1)[-1] for m in await emails(database)] == [
        "payment failed",
        "subscription to gpt-oss-120b renewed",
    ]


async def test_the_retries_setting_bounds_the_attempts(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    clock.at = subscription.current_period_end
    await renew(database, services, retries=0)
    assert (await reload(database, subscription.id)).state is SubscriptionState.CANCELED


async def test_the_job_is_registered_and_reads_the_setting(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    assert "renew-subscriptions" in load_jobs()
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    clock.at = subscription.current_period_end
    assert await run_job("renew-subscriptions", database, services) == "1 renewed"
    assert await run_job("renew-subscriptions", database, services) == "nothing due"

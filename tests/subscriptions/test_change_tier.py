"""Changing tier: an upgrade is charged pro rata and applies at once; a downgrade waits for the period end."""

from __future__ import annotations

from typing import Any

import pytest

from app.db import Database
from app.domain.billing.errors import PaymentFailed
from app.domain.billing.models import ChargeStatus
from app.domain.errors import Conflict
from app.domain.subscriptions import capacity
from app.domain.subscriptions.models import SubscriptionState
from app.services import Services
from tests.subscriptions.support import (
    actor,
    change_tier,
    provider_charges,
    reload,
    renew,
    subscribe,
    subscription_charges,
    taken,
    use_card,
)
from tests.support import World


async def test_an_upgrade_is_charged_for_the_rest_of_the_period(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)  # 30-day period: Nov 23 to Dec 23
    clock.advance(days=10)
    upgraded = await change_tier(database, services, world, subscription.id, "growth")
    assert upgraded.tier_id == "growth" and upgraded.pending_tier_id is None
    assert upgraded.current_period_end == subscription.current_period_end  # the period is unchanged
    first, upgrade = await subscription_charges(database, world.acme_id)
    # ($200 - $50) for 20 of the period's 30 days
    assert (upgrade.amount_cents, upgrade.status) == (10_000, ChargeStatus.SUCCEEDED)
    assert upgrade.idempotency_key == f"subscription:{subscription.id}:upgrade:1"
    assert (await taken(database, tier="starter"), await taken(database, tier="growth")) == (0, 1)


async def test_an_upgrade_is_rounded_down_to_the_cent(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    clock.advance(days=7, seconds=1)
    await change_tier(database, services, world, subscription.id, "scale")
    upgrade = (await subscription_charges(database, world.acme_id))[-1]
    whole, left = 30 * 86_400, 23 * 86_400 - 1
    assert upgrade.amount_cents == 70_000 * left // whole  # ($750 - $50), customer's favour


async def test_a_declined_upgrade_changes_nothing(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    clock.advance(days=1)
    with pytest.raises(PaymentFailed):
        await change_tier(database, services, world, subscription.id, "growth")
    after = await reload(database, subscription.id)
    assert (after.tier_id, after.pending_tier_id, after.pending_charge_key) == ("starter", None, None)
    assert (await taken(database, tier="starter"), await taken(database, tier="growth")) == (1, 0)
    # a new attempt is a new charge (a new key), not the declined one again
    await use_card(database, services, world.acme_id, "pm_card_visa")
    assert (await change_tier(database, services, world, subscription.id, "growth")).tier_id == "growth"
    keys = [
        c.idempotency_key.rsplit(":", 2)[-2:] for c in await subscription_charges(database, world.acme_id)
    ]
    assert keys[1:] == [["upgrade", "1"], ["upgrade", "2"]]


async def test_a_downgrade_takes_effect_at_the_period_end(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world, tier="growth")
    scheduled = await change_tier(database, services, world, subscription.id, "starter")
    assert (scheduled.tier_id, scheduled.scheduled_tier_id) == ("growth", "starter")
    assert len(await subscription_charges(database, world.acme_id)) == 1  # nothing charged, nothing refunded
    assert (await taken(database, tier="growth"), await taken(database, tier="starter")) == (1, 1)
    clock.at = subscription.current_period_end
    await renew(database, services)
    renewed = await reload(database, subscription.id)
    assert (renewed.tier_id, renewed.scheduled_tier_id, renewed.period_number) == ("starter", None, 2)
    assert (await subscription_charges(database, world.acme_id))[-1].amount_cents == 5_000
    assert (await taken(database, tier="growth"), await taken(database, tier="starter")) == (0, 1)


async def test_choosing_the_current_tier_undoes_a_downgrade(
    database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world, tier="growth")
    await change_tier(database, services, world, subscription.id, "starter")
    kept = await change_tier(database, services, world, subscription.id, "growth")
    assert (kept.tier_id, kept.scheduled_tier_id) == ("growth", None)
    assert await taken(database, tier="starter") == 0


async def test_an_upgrade_replaces_a_planned_downgrade(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world, tier="growth")
    await change_tier(database, services, world, subscription.id, "starter")
    clock.advance(days=15)
    upgraded = await change_tier(database, services, world, subscription.id, "scale")
    assert (upgraded.tier_id, upgraded.scheduled_tier_id) == ("scale", None)
    assert (await subscription_charges(database, world.acme_id))[-1].amount_cents == 55_000 // 2
    assert [await taken(database, tier=t) for t in ("starter", "growth", "scale")] == [0, 0, 1]


async def test_the_new_tier_must_have_a_place(database: Database, services: Services, world: World) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    async with database.transaction() as session:
        await capacity.set_capacity(
            session,
            actor(world, "staff"),
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            tier_id="growth",
            capacity=0,
        )
    with pytest.raises(Conflict) as raised:
        await change_tier(database, services, world, subscription.id, "growth")
    assert raised.value.code.value == "SOLD_OUT"
    assert (await reload(database, subscription.id)).tier_id == "starter"
    assert len(provider_charges(services)) == 1


async def test_a_past_due_subscription_cannot_change_tier(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    clock.at = subscription.current_period_end
    await renew(database, services)
    assert (await reload(database, subscription.id)).state is SubscriptionState.PAST_DUE
    with pytest.raises(Conflict) as raised:
        await change_tier(database, services, world, subscription.id, "growth")
    assert raised.value.code.value == "SUBSCRIPTION_PAST_DUE"

"""Canceling: the subscription runs to the end of the paid period, and can be resumed until then."""

from __future__ import annotations

from typing import Any

import pytest

from app.db import Database
from app.domain.errors import Conflict, DomainError
from app.domain.subscriptions import service
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.services import Services
from tests.subscriptions.support import (
    actor,
    emails,
    reload,
    renew,
    subscribe,
    subscription_charges,
    taken,
    use_card,
)
from tests.support import World


async def test_cancel_runs_to_the_period_end_then_ends(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    clock.advance(days=3)
    canceled = await service.cancel(database, actor(world), subscription.id)
    assert canceled.state is SubscriptionState.ACTIVE and canceled.cancel_at_period_end
    assert canceled.canceled_at == clock.at
    clock.at = subscription.current_period_end
    assert await renew(database, services) == {"ended: canceled": 1}
    ended = await reload(database, subscription.id)
    assert (ended.state, ended.end_reason, ended.ended_at) == (
        SubscriptionState.CANCELED,
        EndReason.CANCELED,
        subscription.current_period_end,
    )
    assert len(await subscription_charges(database, world.acme_id)) == 1  # no renewal charged
    assert await taken(database) == 0
    assert [m.to_address for m in await emails(database)] == ["admin@example.com"]
    with pytest.raises(Conflict) as raised:
        await service.resume(database, actor(world), subscription.id)
    assert raised.value.code.value == "SUBSCRIPTION_ENDED"


async def test_resume_before_the_period_end_undoes_the_cancel(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await service.cancel(database, actor(world), subscription.id)
    resumed = await service.resume(database, actor(world), subscription.id)
    assert not resumed.cancel_at_period_end and resumed.canceled_at is None
    clock.at = subscription.current_period_end
    await renew(database, services)
    assert (await reload(database, subscription.id)).period_number == 2
    assert len(await subscription_charges(database, world.acme_id)) == 2


async def test_resume_after_the_period_end_is_too_late(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await service.cancel(database, actor(world), subscription.id)
    clock.at = subscription.current_period_end  # the job has not run yet
    with pytest.raises(Conflict) as raised:
        await service.resume(database, actor(world), subscription.id)
    assert raised.value.code.value == "SUBSCRIPTION_ENDED"


async def test_canceling_a_past_due_subscription_ends_it_at_once(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    clock.at = subscription.current_period_end
    await renew(database, services)
    ended = await service.cancel(database, actor(world), subscription.id)
    assert (ended.state, ended.end_reason) == (SubscriptionState.CANCELED, EndReason.CANCELED)
    assert await taken(database) == 0
    clock.advance(days=1)
    await renew(database, services)
    assert len(await subscription_charges(database, world.acme_id)) == 2  # no more retries


async def test_only_organization_admins_cancel(database: Database, services: Services, world: World) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    for who, code in (("project_admin", "FORBIDDEN"), ("outsider", "NOT_FOUND"), ("staff", "NOT_FOUND")):
        with pytest.raises(DomainError) as raised:
            await service.cancel(database, actor(world, who), subscription.id)
        assert raised.value.code.value == code
    assert not (await reload(database, subscription.id)).cancel_at_period_end

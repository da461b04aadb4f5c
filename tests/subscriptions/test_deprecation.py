"""A deprecated model: subscriptions to it end at its deprecation date, and new ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.db import Database
from app.domain.errors import Conflict
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.services import Services
from tests.subscriptions.support import (
    emails,
    reload,
    renew,
    subscribe,
    subscription_charges,
    taken,
    use_card,
)
from tests.support import World

DEPRECATED_AT = datetime(2026, 5, 27, tzinfo=UTC)  # llama3.1-8b


async def test_the_last_period_ends_at_the_deprecation_and_is_charged_pro_rata(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    clock.at = datetime(2026, 5, 10, 12, tzinfo=UTC)
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world, model="llama3.1-8b")
    assert subscription.current_period_end == DEPRECATED_AT
    [charge] = await subscription_charges(database, world.acme_id)
    # $20.00 a month for 16.5 of the 31 days from May 10 to June 10, rounded down to the cent
    assert charge.amount_cents == 2_000 * 33 // 62 == 1_064
    clock.at = DEPRECATED_AT
    assert await renew(database, services) == {"ended: model deprecated": 1}
    ended = await reload(database, subscription.id)
    assert (ended.state, ended.end_reason, ended.ended_at) == (
        SubscriptionState.CANCELED,
        EndReason.MODEL_DEPRECATED,
        DEPRECATED_AT,
    )
    assert await taken(database, "llama3.1-8b") == 0
    assert len(await subscription_charges(database, world.acme_id)) == 1
    assert [m.subject for m in await emails(database)] == ["Acme: subscription to llama3.1-8b ended"]


async def test_a_late_job_ends_it_at_the_deprecation_date(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    clock.at = datetime(2026, 4, 1, tzinfo=UTC)
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world, model="llama3.1-8b", tier="growth")
    clock.at = datetime(2026, 5, 1, tzinfo=UTC)
    await renew(database, services)  # the second period is cut short at the deprecation
    renewed = await reload(database, subscription.id)
    assert renewed.current_period_end == DEPRECATED_AT
    assert (await subscription_charges(database, world.acme_id))[-1].amount_cents == 7_500 * 26 // 31
    clock.at = datetime(2026, 6, 3, tzinfo=UTC)
    await renew(database, services)
    assert (await reload(database, subscription.id)).ended_at == DEPRECATED_AT


async def test_a_deprecated_model_cannot_be_subscribed_to(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    clock.at = DEPRECATED_AT
    await use_card(database, services, world.acme_id)
    with pytest.raises(Conflict) as raised:
        await subscribe(database, services, world, model="qwen-3-235b-a22b-instruct-2507")
    assert (raised.value.code.value, raised.value.field) == ("MODEL_DEPRECATED", "model")

"""Subscribing: only a successful first charge activates it; refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.db import Database
from app.domain.accounts.models import User
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable
from app.domain.billing.models import ChargeStatus
from app.domain.errors import Conflict, DomainError, Forbidden, NotFound
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.services import Services
from tests.subscriptions.support import (
    provider_charges,
    reload,
    renew,
    subscribe,
    subscription_charges,
    taken,
    use_card,
)
from tests.support import World


async def test_the_first_month_is_charged_and_activates_it(
    database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    assert subscription.state is SubscriptionState.ACTIVE
    assert subscription.current_period_start == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2026, 12, 23, 12, tzinfo=UTC)
    assert subscription.next_charge_at == subscription.current_period_end
    [charge] = await subscription_charges(database, world.acme_id)
    assert (charge.status, charge.amount_cents) == (ChargeStatus.SUCCEEDED, 5_000)  # $50.00 a month
    assert charge.idempotency_key == f"subscription:{subscription.id}:period:1"
    assert [c.amount for c in provider_charges(services)] == [5_000]
    assert await taken(database) == 1


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("pm_card_chargeDeclined", "PAYMENT_DECLINED"),
        ("pm_card_chargeDeclinedInsufficientFunds", "PAYMENT_DECLINED"),
    ],
)
async def test_a_declined_first_charge_leaves_nothing_behind(
    database: Database, services: Services, world: World, card: str, code: str
) -> None:
    await use_card(database, services, world.acme_id, card)
    with pytest.raises(PaymentFailed) as raised:
        await subscribe(database, services, world)
    assert raised.value.code.value == code
    assert await taken(database) == 0
    [charge] = await subscription_charges(database, world.acme_id)
    failed = await reload(database, charge.details["subscription_id"])
    assert (failed.state, failed.end_reason) == (SubscriptionState.CANCELED, EndReason.PAYMENT_FAILED)
    # another card, another try: a new subscription and a new charge
    await use_card(database, services, world.acme_id, "pm_card_visa")
    assert (await subscribe(database, services, world)).state is SubscriptionState.ACTIVE
    assert await taken(database) == 1


async def test_a_lost_answer_is_paid_once_when_subscribing_again(
    database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id)
    provider: Any = services.payments.provider
    provider.faults.fail_next(1, "lost_response", operation="charge")
    with pytest.raises(PaymentUnavailable):
        await subscribe(database, services, world)
    [charge] = await subscription_charges(database, world.acme_id)
    waiting = await reload(database, charge.details["subscription_id"])
    assert waiting.state is SubscriptionState.INCOMPLETE and await taken(database) == 1
    again = await subscribe(database, services, world)
    assert again.id == waiting.id and again.state is SubscriptionState.ACTIVE
    assert len(provider_charges(services)) == 1 and await taken(database) == 1


async def test_a_pending_first_charge_declined_later_gives_the_place_back(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    from app.domain.billing import retries

    await use_card(database, services, world.acme_id, "pm_card_chargeDeclined")
    services.payments.provider.faults.fail_next(1, "timeout", operation="charge")  # type: ignore[attr-defined]
    with pytest.raises(PaymentUnavailable):
        await subscribe(database, services, world)
    assert await taken(database) == 1
    clock.advance(minutes=2)
    await retries.retry_pending(database, payments=services.payments)  # the provider now declines it
    await renew(database, services)  # the renewal job applies the failure
    [charge] = await subscription_charges(database, world.acme_id)
    assert charge.status is ChargeStatus.DECLINED
    assert (await reload(database, charge.details["subscription_id"])).state is SubscriptionState.CANCELED
    assert await taken(database) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"model": "no-such-model"}, NotFound, "UNKNOWN_MODEL"),
        ({"tier": "platinum"}, NotFound, "UNKNOWN_TIER"),
        ({"model": "llama3.1-8b"}, Conflict, "MODEL_DEPRECATED"),  # deprecated 2026-05-27
        ({"who": "project_admin"}, Forbidden, "FORBIDDEN"),
        ({"who": "outsider"}, NotFound, "NOT_FOUND"),
    ],
)
async def test_refusals(
    database: Database, services: Services, world: World, kwargs: dict[str, str], error: type, code: str
) -> None:
    await use_card(database, services, world.acme_id)
    with pytest.raises(error) as raised:
        await subscribe(database, services, world, **kwargs)
    assert raised.value.code.value == code
    assert await subscription_charges(database, world.acme_id) == []


async def test_a_payment_method_is_required(database: Database, services: Services, world: World) -> None:
    with pytest.raises(Conflict) as raised:
        await subscribe(database, services, world)
    assert raised.value.code.value == "NO_PAYMENT_METHOD"
    assert await taken(database) == 0


async def test_personal_organizations_do_not_subscribe(
    database: Database, services: Services, world: World
) -> None:
    async with database.transaction() as session:
        owner = await session.get(User, world.people["admin"].user_id)
        assert owner is not None
        personal = await create_organization(
            session, owner=owner, name="Personal", type=OrganizationType.PERSONAL
        )
    await use_card(database, services, personal.id)
    with pytest.raises(Conflict) as raised:
        await subscribe(database, services, world, organization_id=personal.id)
    assert raised.value.code.value == "PERSONAL_ORGANIZATION"


async def test_one_live_subscription_per_model(database: Database, services: Services, world: World) -> None:
    await use_card(database, services, world.acme_id)
    await subscribe(database, services, world)
    with pytest.raises(Conflict) as raised:
        await subscribe(database, services, world, tier="growth")
    assert raised.value.code.value == "ALREADY_SUBSCRIBED"
    await subscribe(database, services, world, model="zai-glm-4.7")  # another model is fine
    assert await taken(database, "gpt-oss-120b", "growth") == 0


async def test_a_sold_out_tier_is_refused(database: Database, services: Services, world: World) -> None:
    from app.domain.subscriptions import capacity
    from tests.subscriptions.support import actor

    async with database.transaction() as session:
        await capacity.set_capacity(
            session,
            actor(world, "staff"),
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            tier_id="starter",
            capacity=0,
        )
    await use_card(database, services, world.acme_id)
    with pytest.raises(Conflict) as raised:
        await subscribe(database, services, world)
    assert (raised.value.code.value, raised.value.field) == ("SOLD_OUT", "tier")
    assert await subscription_charges(database, world.acme_id) == []
    assert provider_charges(services) == []


async def test_staff_capacity_below_use_only_stops_new_subscriptions(
    database: Database, services: Services, world: World
) -> None:
    from app.domain.subscriptions import capacity
    from tests.subscriptions.support import actor

    await use_card(database, services, world.acme_id)
    await use_card(database, services, world.evil_id)
    kept = await subscribe(database, services, world)
    async with database.transaction() as session:
        await capacity.set_capacity(
            session,
            actor(world, "staff"),
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            tier_id="starter",
            capacity=0,
        )
        view = await capacity.availability(session, services.catalog)
    assert view[("gpt-oss-120b", "starter")].sold_out and view[("gpt-oss-120b", "starter")].taken == 1
    with pytest.raises(Conflict):
        await subscribe(database, services, world, organization_id=world.evil_id, who="outsider")
    assert (await reload(database, kept.id)).state is SubscriptionState.ACTIVE
    with pytest.raises(DomainError) as raised:
        async with database.transaction() as session:
            await capacity.set_capacity(
                session,
                actor(world),
                catalog=services.catalog,
                model_id="gpt-oss-120b",
                tier_id="starter",
                capacity=5,
            )
    assert raised.value.code.value == "FORBIDDEN"

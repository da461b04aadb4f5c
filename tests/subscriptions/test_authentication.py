"""Subscription charges the cardholder must authenticate (3-D Secure), over the fake provider.

A renewal is charged off-session: it waits for the cardholder (past due meanwhile, the admins emailed a
link), and applies once when the payment succeeds; never authenticated, it is given up after a day and
fails as a declined renewal does. Subscribing and upgrading are on-session: the console gets the client
secret, and the change applies once the payment completes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.billing import retries
from app.domain.billing.authentication import complete_payment
from app.domain.billing.errors import PaymentActionRequired
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.errors import Conflict, ErrorCode
from app.domain.notifications.models import OutboxMessage
from app.domain.subscriptions import service
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.payments.types import ChargeStatus as ProviderStatus
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

AUTHENTICATION_ASKED = "a payment needs your card's authentication"


def fake(services: Services) -> Any:
    return services.payments.provider


async def subjects(db: Database) -> list[str]:
    async with db.reader() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))  # type: ignore[arg-type]
        return [m.subject.split(": ", 1)[-1] for m in rows]


async def bodies(db: Database) -> list[str]:
    async with db.reader() as session:
        return list(await session.scalars(select(OutboxMessage.body_text)))


async def renewal_waiting_for_the_cardholder(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> tuple[str, Charge]:
    """Acme subscribed with a good card, then put a 3-D Secure card on file; the renewal is due and made."""
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_authenticationRequired")
    clock.at = subscription.current_period_end
    assert await renew(database, services) == {"awaiting authentication": 1}
    renewal = (await subscription_charges(database, world.acme_id))[-1]
    return subscription.id, renewal


async def test_a_renewal_needing_authentication_grants_nothing_until_it_succeeds_then_applies_once(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    subscription_id, renewal = await renewal_waiting_for_the_cardholder(database, services, world, clock)
    waiting = await reload(database, subscription_id)
    assert renewal.status is ChargeStatus.REQUIRES_ACTION and renewal.provider_charge_ref
    assert (waiting.state, waiting.period_number) == (SubscriptionState.PAST_DUE, 1)  # no new period unpaid
    assert waiting.pending_charge_key == renewal.idempotency_key
    assert await subjects(database) == [AUTHENTICATION_ASKED]  # every admin: only they can authenticate
    assert any(f"/#/o/{renewal.organization_id}/billing/overview" in body for body in await bodies(database))
    assert await renew(database, services) == {"pending": 1}  # the renewal job waits, charges nothing more
    clock.advance(hours=2)
    assert await retries.retry_pending(database, payments=services.payments) == 0  # still waiting

    fake(services).complete_authentication(renewal.provider_charge_ref)
    completed = await asyncio.gather(
        *(complete_payment(database, actor(world), renewal.id, payments=services.payments) for _ in range(3)),
        retries.retry_pending(database, payments=services.payments),
    )

    renewed = await reload(database, subscription_id)
    assert all(c.status is ChargeStatus.SUCCEEDED for c in completed[:3])
    assert (renewed.state, renewed.period_number, renewed.failed_renewals) == (SubscriptionState.ACTIVE, 2, 0)
    assert renewed.current_period_start == waiting.current_period_end  # from the original period end
    assert renewed.pending_charge_key is None
    assert await subjects(database) == [AUTHENTICATION_ASKED, "subscription to gpt-oss-120b renewed"]
    assert await renew(database, services) == {}
    assert len(provider_charges(services)) == 2  # the first month and the renewal, nothing more


async def test_a_renewal_never_authenticated_is_given_up_after_a_day_and_fails_like_a_decline_once(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    subscription_id, renewal = await renewal_waiting_for_the_cardholder(database, services, world, clock)
    clock.advance(hours=23)
    assert await retries.retry_pending(database, payments=services.payments) == 0
    clock.advance(hours=1, minutes=1)

    assert await retries.retry_pending(database, payments=services.payments) == 1
    assert await renew(database, services) == {"payment failed": 1}
    assert await renew(database, services) == {}  # applied once

    failed = await reload(database, subscription_id)
    given_up = (await subscription_charges(database, world.acme_id))[-1]
    assert (given_up.status, given_up.decline_code) == (ChargeStatus.FAILED, "expired")
    assert (failed.state, failed.failed_renewals, failed.period_number) == (SubscriptionState.PAST_DUE, 1, 1)
    assert failed.next_charge_at == clock.at + timedelta(days=1)  # the next attempt, as after a decline
    assert await subjects(database) == [
        AUTHENTICATION_ASKED,
        "a payment could not be completed",
        "subscription to gpt-oss-120b past due: payment failed",
    ]
    # canceled at the provider: a late authentication cannot take money that nothing applies
    [_, canceled] = provider_charges(services)
    assert (canceled.charge_ref, canceled.status) == (renewal.provider_charge_ref, ProviderStatus.FAILED)
    with pytest.raises(AssertionError):
        fake(services).complete_authentication(renewal.provider_charge_ref)


async def test_a_renewal_never_authenticated_on_its_last_attempt_cancels_the_subscription(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_authenticationRequired")
    clock.at = subscription.current_period_end
    assert await renew(database, services, retries=0) == {"awaiting authentication": 1}
    clock.advance(days=1, minutes=1)
    await retries.retry_pending(database, payments=services.payments)
    assert await renew(database, services, retries=0) == {"payment failed": 1}

    ended = await reload(database, subscription.id)
    assert (ended.state, ended.end_reason) == (SubscriptionState.CANCELED, EndReason.PAYMENT_FAILED)
    assert await taken(database) == 0


async def test_subscribing_with_a_card_needing_authentication_answers_the_client_secret_and_completes_once(
    database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id, "pm_card_authenticationRequired")

    with pytest.raises(PaymentActionRequired) as asked:
        await subscribe(database, services, world)
    with pytest.raises(PaymentActionRequired) as again:  # a second click: the same payment, the same secret
        await subscribe(database, services, world)
    [charge] = await subscription_charges(database, world.acme_id)
    incomplete = await reload(database, charge.details["subscription_id"])
    assert asked.value.code is ErrorCode.PAYMENT_REQUIRES_ACTION and asked.value.client_secret
    assert (again.value.charge_id, again.value.client_secret) == (
        asked.value.charge_id,
        asked.value.client_secret,
    )
    assert incomplete.state is SubscriptionState.INCOMPLETE and await taken(database) == 1
    assert await subjects(database) == []  # the admin is at the console: no email
    assert charge.provider_charge_ref

    fake(services).complete_authentication(charge.provider_charge_ref)
    completed = await complete_payment(
        database, actor(world), asked.value.charge_id, payments=services.payments
    )

    active = await reload(database, incomplete.id)
    assert completed.status is ChargeStatus.SUCCEEDED
    assert (active.state, active.period_number, active.pending_charge_key) == (
        SubscriptionState.ACTIVE,
        1,
        None,
    )
    assert active.next_charge_at == active.current_period_end
    with pytest.raises(Conflict):  # subscribed now: a second subscribe is refused
        await subscribe(database, services, world)
    assert len(provider_charges(services)) == 1 and await taken(database) == 1


async def test_a_first_month_never_authenticated_ends_the_subscription_and_frees_its_place(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    await use_card(database, services, world.acme_id, "pm_card_authenticationRequired")
    with pytest.raises(PaymentActionRequired):
        await subscribe(database, services, world)
    clock.advance(days=1, minutes=1)

    assert await retries.retry_pending(database, payments=services.payments) == 1
    assert await renew(database, services) == {"payment failed": 1}

    [charge] = await subscription_charges(database, world.acme_id)
    ended = await reload(database, charge.details["subscription_id"])
    assert (ended.state, ended.end_reason) == (SubscriptionState.CANCELED, EndReason.PAYMENT_FAILED)
    assert await taken(database) == 0


async def test_an_upgrade_needing_authentication_keeps_the_tier_until_it_is_paid(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    await use_card(database, services, world.acme_id, "pm_card_authenticationRequired")
    clock.at = datetime(2026, 12, 8, 12, tzinfo=UTC)

    with pytest.raises(PaymentActionRequired) as asked:
        await change_tier(database, services, world, subscription.id, "growth")
    waiting = await reload(database, subscription.id)
    async with database.reader() as session:
        charge = await session.get(Charge, asked.value.charge_id)
    assert charge is not None and charge.provider_charge_ref
    fake(services).complete_authentication(charge.provider_charge_ref)
    await complete_payment(database, actor(world), charge.id, payments=services.payments)

    upgraded = await reload(database, subscription.id)
    assert (waiting.tier_id, waiting.pending_tier_id, waiting.state) == (
        "starter",
        "growth",
        SubscriptionState.ACTIVE,
    )
    assert (upgraded.tier_id, upgraded.pending_tier_id, upgraded.pending_charge_key) == ("growth", None, None)
    assert await taken(database, tier="starter") == 0 and await taken(database, tier="growth") == 1


async def test_while_a_renewal_waits_for_the_cardholder_changes_are_refused_saying_so(
    database: Database, services: Services, world: World, clock: FrozenClock
) -> None:
    subscription_id, _ = await renewal_waiting_for_the_cardholder(database, services, world, clock)

    with pytest.raises(Conflict) as canceling:
        await service.cancel(database, actor(world), subscription_id)
    with pytest.raises(Conflict) as upgrading:
        await change_tier(database, services, world, subscription_id, "growth")

    for refused in (canceling.value, upgrading.value):
        assert refused.code is ErrorCode.PAYMENT_REQUIRES_ACTION and "authentication" in refused.message
    assert (await reload(database, subscription_id)).state is SubscriptionState.PAST_DUE

"""Who pays at admission, and what usage does to credits: 402, subscriptions, PayGo burns, concurrency."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.models import Charge
from app.domain.catalog.models import RateLimits
from app.domain.credits.ledger import balance_of
from app.domain.credits.models import CreditLedgerEntry
from app.domain.plans.overrides import set_limit_override
from app.domain.provider_events import disputes
from app.domain.subscriptions.service import cancel, subscribe
from app.domain.usage.models import UsageRecord
from app.payments.facade import Payments
from app.services import Services
from tests.fleet.conftest import Fleet, buy_credits
from tests.support import World

PRICE_IN, PRICE_OUT = 350, 750  # gpt-oss-120b, nano-dollars per token


async def custom_terms(database: Database, services: Services, world: World) -> None:
    """Staff give Acme custom limits on gpt-oss-120b (100M TPM), so tests can spend dollars in seconds."""
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with database.transaction() as session:
        await set_limit_override(
            session,
            staff,
            world.acme_id,
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            limits=RateLimits(requests_per_minute=10_000, tokens_per_minute=100_000_000),
        )


async def balance(database: Database, world: World) -> int:
    async with database.transaction() as session:
        return await balance_of(session, world.acme_id)


async def test_a_team_org_without_credit_or_subscription_is_402(
    fleet: Fleet, acme_key_without_credit: str
) -> None:
    answer = await fleet.admit(acme_key_without_credit)
    assert answer.status_code == 402
    body = answer.json()
    assert (body["type"], body["code"]) == ("payment_required_error", "payment_required")
    assert (
        "'Acme'" in body["message"]
    )  # the key's organization, named: a key of another org is a common mistake
    assert "Add credits or subscribe" in body["message"]
    assert answer.headers["x-ratelimit-limit-requests-minute"] == "0"
    assert answer.headers["x-ratelimit-remaining-tokens-minute"] == "0"


async def test_added_credits_take_effect_at_once(
    fleet: Fleet,
    acme_key_without_credit: str,
    database: Database,
    payments: Payments,
    settings: Any,
    world: World,
) -> None:
    assert (await fleet.admit(acme_key_without_credit)).status_code == 402  # cached: no credit
    await buy_credits(database, payments, settings, world, "10.00")
    answer = await fleet.admit(acme_key_without_credit)
    assert answer.status_code == 200 and answer.json()["plan"] == "paygo"


async def test_paygo_usage_burns_exactly_its_price(
    fleet: Fleet, acme_key: str, database: Database, world: World
) -> None:
    before = await balance(database, world)
    await fleet.run(acme_key, input_tokens=1000, output_tokens=200)
    assert before - await balance(database, world) == 1000 * PRICE_IN + 200 * PRICE_OUT


async def test_a_subscribed_model_never_burns_credits(
    fleet: Fleet, acme_key: str, database: Database, payments: Payments, services: Services, world: World
) -> None:
    admin = Actor(world.people["admin"].user_id)
    await subscribe(
        database,
        admin,
        world.acme_id,
        payments=payments,
        catalog=services.catalog,
        model_id="gpt-oss-120b",
        tier_id="starter",
        retries=3,
    )
    before = await balance(database, world)
    ran = await fleet.run(acme_key, input_tokens=1000, output_tokens=200)
    assert ran["admission"]["plan"] == "subscription"
    assert await balance(database, world) == before
    # the tier's own limits apply: starter is 60 requests per minute
    assert (await fleet.admit(acme_key)).headers["x-ratelimit-limit-requests-minute"] == "60"


async def test_a_canceled_subscription_stops_paying_when_its_period_ends(
    fleet: Fleet, acme_key: str, database: Database, payments: Payments, services: Services, world: World,
    clock: Any,
) -> None:  # fmt: skip
    admin = Actor(world.people["admin"].user_id)
    subscription = await subscribe(
        database,
        admin,
        world.acme_id,
        payments=payments,
        catalog=services.catalog,
        model_id="gpt-oss-120b",
        tier_id="starter",
        retries=3,
    )
    assert (await fleet.admit(acme_key)).json()["plan"] == "subscription"
    await cancel(database, admin, subscription.id)
    clock.at = subscription.current_period_end - timedelta(seconds=1)
    assert (await fleet.admit(acme_key)).json()["plan"] == "subscription"  # it runs to the end of the period
    # no commit marks the moment: the fleet's entry knew when to look again
    clock.at = subscription.current_period_end
    assert (await fleet.admit(acme_key)).json()["plan"] == "paygo"


async def test_running_out_of_credit_brings_402(
    fleet: Fleet,
    acme_key_without_credit: str,
    database: Database,
    services: Services,
    settings: Any,
    world: World,
) -> None:
    await custom_terms(database, services, world)
    await buy_credits(database, services.payments, settings, world, "10.00")  # $10 = 10,000,000,000 nanos
    # a request filling the model's context costs 31,072 * 350 + 100,000 * 750 = 85,875,200 nanos at most;
    # 116 fit in $10
    for n in range(116):
        await fleet.run(acme_key_without_credit, input_tokens=31_072, output_tokens=100_000,
                        max_output_tokens=100_000, request_id=f"big-{n}")  # fmt: skip
    assert await balance(database, world) == 10_000_000_000 - 116 * 85_875_200  # $0.038 left
    # the 117th's worst case is more than is left: refused before it can take the balance below zero
    answer = await fleet.admit(acme_key_without_credit, input_tokens=31_072, max_output_tokens=100_000)
    assert answer.status_code == 402
    assert "of credit" in answer.json()["message"] and "up to $0.085876" in answer.json()["message"]
    assert (
        await fleet.admit(acme_key_without_credit, input_tokens=100, max_output_tokens=100)
    ).status_code == 200


@pytest.mark.parametrize("records", [1000])
async def test_concurrent_usage_loses_no_debit(
    fleet: Fleet, acme_key: str, database: Database, world: World, records: int
) -> None:
    before = await balance(database, world)
    admitted = []  # one admission per request, admitted one after the other: the reports race
    for _ in range(records):
        admitted.append(
            (await fleet.admit(acme_key, input_tokens=10, max_output_tokens=10)).json()["admission_id"]
        )

    async def report(n: int) -> Any:
        record = {"request_id": f"u{n}", "admission_id": admitted[n], "model": "gpt-oss-120b",
                  "input_tokens": 10 + n % 3, "output_tokens": n % 5}  # fmt: skip
        return await fleet.report([record])

    answers = await asyncio.gather(*(report(n) for n in range(records)))
    assert all(a.json()["results"][0]["status"] == "accepted" for a in answers)
    expected = sum((10 + n % 3) * PRICE_IN + (n % 5) * PRICE_OUT for n in range(records))
    assert before - await balance(database, world) == expected
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == records
        ledger_sum = await session.scalar(
            select(func.sum(CreditLedgerEntry.amount_nanos)).where(
                CreditLedgerEntry.organization_id == world.acme_id
            )
        )
    assert ledger_sum == await balance(database, world)


async def test_usage_below_the_threshold_recharges_once(
    fleet: Fleet,
    acme_key_without_credit: str,
    database: Database,
    services: Services,
    settings: Any,
    world: World,
) -> None:
    from app.domain.credits.auto_recharge import auto_recharge_config, configure_auto_recharge

    payments = services.payments
    await custom_terms(database, services, world)
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    await buy_credits(database, payments, settings, world, "10.00")
    admin = Actor(world.people["admin"].user_id)
    config = auto_recharge_config(threshold="9.00", recharge_to="20.00", monthly_cap=None, settings=settings)
    await configure_auto_recharge(
        database, admin, world.acme_id, config, payments=payments, settings=settings
    )
    charges_before = len(payments.provider.recorded_charges())  # type: ignore[attr-defined]
    for n in range(12):  # 12 * 85,875,200 nanos: the balance crosses $9
        await fleet.run(acme_key_without_credit, input_tokens=31_072, output_tokens=100_000,
                        max_output_tokens=100_000, request_id=f"r-{n}")  # fmt: skip
    burned = 10 * 10**9 - 12 * 85_875_200
    for _ in range(100):  # the recharge runs after the usage is answered: wait for its grant
        await asyncio.sleep(0.02)
        if await balance(database, world) > burned:
            break
    await asyncio.sleep(0.1)
    charges = payments.provider.recorded_charges()  # type: ignore[attr-defined]
    assert len(charges) == charges_before + 1
    recharged = charges[-1].amount * 10_000_000  # cents -> nanos
    assert 11 * 10**9 < recharged < 12 * 10**9  # up to $20 from just under $9
    assert await balance(database, world) == 10 * 10**9 + recharged - 12 * 85_875_200


async def test_a_hold_on_credit_comes_back_when_the_admission_lapses(
    fleet: Fleet,
    acme_key_without_credit: str,
    database: Database,
    services: Services,
    settings: Any,
    world: World,
) -> None:
    await custom_terms(database, services, world)
    await buy_credits(database, services.payments, settings, world, "10.00")
    # 131,072 output tokens (the model's context) at $0.75/M may cost $0.098304: $10 holds 101 of them
    big = {"input_tokens": 0, "max_output_tokens": 131_072}
    answers = [(await fleet.admit(acme_key_without_credit, **big)).status_code for _ in range(102)]
    assert answers == [200] * 101 + [402]
    admissions = fleet.http.app.state.fleet.admissions  # type: ignore[attr-defined]
    admissions.reservations._clock = lambda: time.monotonic() + 10_000  # their usage never came
    assert await admissions.release_lapsed() == 101
    assert (await fleet.admit(acme_key_without_credit, **big)).status_code == 200


async def test_a_disputed_purchase_is_held_from_admission_until_the_dispute_is_won(
    fleet: Fleet,
    acme_key_without_credit: str,
    database: Database,
    payments: Payments,
    settings: Any,
    world: World,
) -> None:
    await buy_credits(database, payments, settings, world, "10.00")
    assert (await fleet.admit(acme_key_without_credit)).status_code == 200  # cached: $10 of credit
    async with database.transaction() as session:  # what the provider's charge.dispute.created does
        [charge] = list(await session.scalars(select(Charge)))
        await disputes.dispute_created(
            session, charge, {"id": "dp_1", "amount": 1000, "reason": "fraudulent"}
        )
    held = await fleet.admit(acme_key_without_credit)
    async with database.transaction() as session:  # charge.dispute.closed, decided for us
        await disputes.dispute_closed(session, {"id": "dp_1", "status": "won"})

    assert held.status_code == 402  # the DISPUTE_HOLD entry bumped the organization's version
    assert await balance(database, world) == 10 * 10**9
    assert (await fleet.admit(acme_key_without_credit)).status_code == 200

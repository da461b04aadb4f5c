"""Adding credits: charged once per click, granted only on success, with a one-year expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable
from app.domain.credits.ledger import balance_of
from app.domain.credits.models import CreditGrant, CreditLedgerEntry, EntryKind, GrantSource, GrantState
from app.domain.credits.purchases import add_credits, grant_promotional_credits
from app.domain.errors import Conflict, Forbidden, InvalidInput
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, buy, card, check_ledger, provider_charges
from tests.support import World


async def balance(db: Database, organization_id: str) -> int:
    async with db.reader() as session:
        return await balance_of(session, organization_id)


async def test_a_purchase_grants_its_credits_for_a_year(
    database: Database, payments: Payments, world: World, settings: Settings, clock: Any
) -> None:
    await card(database, payments, world.acme_id)
    purchase = await buy(database, payments, world, settings, "25.50", key="click-0001")
    grant = purchase.grant
    assert (grant.source, grant.state) == (GrantSource.PURCHASE, GrantState.ACTIVE)
    assert grant.amount_nanos == grant.remaining_nanos == 25_500_000_000
    assert grant.bought_at == clock.now()
    assert grant.expires_at == datetime(2027, 11, 23, 12, 0, tzinfo=UTC)
    assert purchase.balance_nanos == 25_500_000_000 == await balance(database, world.acme_id)
    async with database.reader() as session:
        entries = list(await session.scalars(select(CreditLedgerEntry)))
    assert [(e.kind, e.amount_nanos, e.grant_id) for e in entries] == [
        (EntryKind.PURCHASE, 25_500_000_000, grant.id)
    ]
    assert [c.amount for c in provider_charges(payments)] == [2550]
    await check_ledger(database)


async def test_a_retried_click_charges_and_grants_once(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    first = await buy(database, payments, world, settings, "10", key="click-0002")
    again = await buy(database, payments, world, settings, "10", key="click-0002")
    assert again.grant.id == first.grant.id and again.charge.id == first.charge.id
    assert len(provider_charges(payments)) == 1
    assert await balance(database, world.acme_id) == 10 * DOLLAR
    with pytest.raises(Conflict) as raised:
        await buy(database, payments, world, settings, "20", key="click-0002")
    assert raised.value.field == "idempotencyKey"
    await check_ledger(database)


async def test_a_lost_response_is_retried_with_the_same_key_and_grants_once(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    payments.provider.faults.fail_next(1, "lost_response", operation="charge")  # type: ignore[attr-defined]
    with pytest.raises(PaymentUnavailable):
        await buy(database, payments, world, settings, "40", key="click-0003")
    assert await balance(database, world.acme_id) == 0  # the provider took it; we do not know yet
    await check_ledger(database)
    settled = await buy(database, payments, world, settings, "40", key="click-0003")
    assert settled.grant.amount_nanos == 40 * DOLLAR
    assert len(provider_charges(payments)) == 1
    assert await balance(database, world.acme_id) == 40 * DOLLAR
    await check_ledger(database)


@pytest.mark.parametrize(
    ("ref", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "PAYMENT_DECLINED", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "PAYMENT_DECLINED", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "PAYMENT_DECLINED", "expired_card"),
        ("pm_card_authenticationRequired", "PAYMENT_REQUIRES_ACTION", "authentication_required"),
    ],
)
async def test_a_declined_purchase_grants_nothing(
    database: Database,
    payments: Payments,
    world: World,
    settings: Settings,
    ref: str,
    code: str,
    decline_code: str,
) -> None:
    await card(database, payments, world.acme_id, ref)
    with pytest.raises(PaymentFailed) as raised:
        await buy(database, payments, world, settings, "50")
    assert (raised.value.code.value, raised.value.decline_code) == (code, decline_code)
    assert await balance(database, world.acme_id) == 0
    async with database.reader() as session:
        assert list(await session.scalars(select(CreditGrant))) == []
    await check_ledger(database)


@pytest.mark.parametrize("amount", ["9.99", "10000.01", "10.001", "ten", "", "-20", "NaN", "1e3"])
async def test_amounts_are_whole_cents_within_the_limits(
    database: Database, payments: Payments, world: World, settings: Settings, amount: str
) -> None:
    await card(database, payments, world.acme_id)
    with pytest.raises(InvalidInput) as raised:
        await buy(database, payments, world, settings, amount)
    assert raised.value.field == "amount"
    assert provider_charges(payments) == []


async def test_limits_are_settings(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    low = settings.model_copy(update={"credits_purchase_min_cents": 100})
    purchase = await buy(database, payments, world, low, "1")
    assert purchase.grant.amount_nanos == DOLLAR


async def test_personal_organizations_buy_no_credits(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    async with database.transaction() as session:
        owner = await session.get(User, world.people["admin"].user_id)
        assert owner is not None
        personal = await create_organization(session, owner=owner, name="Me", type=OrganizationType.PERSONAL)
    with pytest.raises(Conflict) as raised:
        await add_credits(
            database,
            admin(world),
            personal.id,
            payments=payments,
            amount="10",
            idempotency_key=None,
            settings=settings,
        )
    assert raised.value.code.value == "PERSONAL_ORGANIZATION"


async def test_promotional_credits_are_staff_only(
    database: Database, world: World, settings: Settings, clock: Any
) -> None:
    expires = datetime(2027, 1, 31, tzinfo=UTC)
    async with database.transaction() as session:
        with pytest.raises(Forbidden):
            await grant_promotional_credits(
                session,
                admin(world),
                world.acme_id,
                amount="5",
                expires_at=expires,
                note="x",
                settings=settings,
            )
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with database.transaction() as session:
        grant = await grant_promotional_credits(
            session,
            staff,
            world.acme_id,
            amount="5",
            expires_at=expires,
            note="Welcome offer",
            settings=settings,
        )
    assert (grant.source, grant.expires_at, grant.charge_id, grant.granted_by) == (
        GrantSource.PROMOTIONAL,
        expires,
        None,
        staff.user_id,
    )
    async with database.transaction() as session:
        with pytest.raises(InvalidInput) as raised:
            await grant_promotional_credits(
                session, staff, world.acme_id, amount="5", expires_at=clock.now(), note="x", settings=settings
            )
    assert raised.value.field == "expiresAt"
    assert await balance(database, world.acme_id) == 5 * DOLLAR
    await check_ledger(database)


async def test_a_retry_after_a_lost_response_names_the_first_card_even_after_a_card_change(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    payments.provider.faults.fail_next(1, "lost_response", operation="charge")  # type: ignore[attr-defined]
    with pytest.raises(PaymentUnavailable):
        await buy(database, payments, world, settings, "10", key="click-0004")
    await card(database, payments, world.acme_id, "pm_card_mastercard")  # the new default
    settled = await buy(database, payments, world, settings, "10", key="click-0004")
    assert settled.grant.amount_nanos == 10 * DOLLAR
    assert len(provider_charges(payments)) == 1
    await check_ledger(database)

"""Refunds: the shipped policy refuses and the refusal is recorded; a partner's approval refunds what is left."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.credits.errors import RefundRefused
from app.domain.credits.models import (
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantState,
    RefundRequest,
    RefundStatus,
)
from app.domain.credits.refunds import request_refund, retry_refunds
from app.domain.errors import Conflict
from app.payments import Payments, hookimpl, load_payments
from app.payments.manager import ENTRY_POINT_GROUP
from app.payments.types import RefundDecision
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, burn, buy, card, check_ledger, provider_charges
from tests.support import World


@pytest.fixture
async def goodwill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Payments]:
    """The fake provider with a partner's policy that approves every refund ("Goodwill")."""

    def refund_decision() -> RefundDecision:
        return RefundDecision(approved=True, reason="Goodwill")

    point = SimpleNamespace(
        name="goodwill",
        group=ENTRY_POINT_GROUP,
        value="partner:goodwill",
        load=lambda: SimpleNamespace(refund_decision=hookimpl(refund_decision)),
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **selection: [point])
    path = tmp_path / "goodwill.toml"
    path.write_text(
        '[payments]\nprovider = "fake"\nplugins = ["goodwill"]\n[providers.fake]\nstate_path = ""\n'
    )
    async with load_payments(path, env={}) as payments:
        yield payments


async def requests(db: Database) -> list[RefundRequest]:
    async with db.reader() as session:
        return list(await session.scalars(select(RefundRequest)))


async def test_the_shipped_policy_refuses_and_the_refusal_is_recorded(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    grant = (await buy(database, payments, world, settings, "20")).grant
    with pytest.raises(RefundRefused) as raised:
        await request_refund(database, admin(world), grant.id, payments=payments, reason="Too much")
    assert raised.value.code.value == "REFUND_REFUSED" and "All purchases are final" in raised.value.message
    [request] = await requests(database)
    assert (request.status, request.decision_reason, request.amount_nanos, request.refunded_nanos) == (
        RefundStatus.REFUSED,
        "All purchases are final",
        20 * DOLLAR,
        0,
    )
    await check_ledger(database)


async def test_an_approved_refund_takes_back_at_most_what_is_left(
    database: Database, goodwill: Payments, world: World, settings: Settings
) -> None:
    await card(database, goodwill, world.acme_id)
    grant = (await buy(database, goodwill, world, settings, "20")).grant
    await burn(database, world.acme_id, 5 * DOLLAR + 3)  # 14.99999999… left: whole cents go back
    request = await request_refund(
        database, admin(world), grant.id, payments=goodwill, reason="Unused", amount="100"
    )
    assert (request.status, request.refunded_nanos) == (RefundStatus.REFUNDED, 14_99 * DOLLAR // 100)
    async with database.reader() as session:
        refunded = await session.get(CreditGrant, grant.id)
        entries = list(
            await session.scalars(select(CreditLedgerEntry).where(CreditLedgerEntry.kind == EntryKind.REFUND))
        )
    assert refunded is not None and refunded.remaining_nanos == DOLLAR // 100 - 3
    assert refunded.state is GrantState.ACTIVE
    assert [e.amount_nanos for e in entries] == [-(14_99 * DOLLAR // 100)]
    refunds = goodwill.provider._store["refunds"]  # type: ignore[attr-defined]
    assert [r["amount"] for r in refunds.values()] == [1499]
    assert len(provider_charges(goodwill)) == 1
    with pytest.raises(Conflict):  # less than a cent left
        await request_refund(database, admin(world), grant.id, payments=goodwill, reason="Again")
    await check_ledger(database)


async def test_an_unconfirmed_refund_is_retried_with_the_same_key(
    database: Database, goodwill: Payments, world: World, settings: Settings
) -> None:
    from app.domain.billing.errors import PaymentUnavailable

    await card(database, goodwill, world.acme_id)
    grant = (await buy(database, goodwill, world, settings, "20")).grant
    goodwill.provider.faults.fail_next(1, "lost_response", operation="refund")  # type: ignore[attr-defined]
    with pytest.raises(PaymentUnavailable):
        await request_refund(database, admin(world), grant.id, payments=goodwill, reason="Unused")
    [pending] = await requests(database)
    assert pending.status is RefundStatus.APPROVED
    assert await retry_refunds(database, payments=goodwill) == 1
    assert await retry_refunds(database, payments=goodwill) == 0
    [done] = await requests(database)
    assert done.status is RefundStatus.REFUNDED
    assert len(goodwill.provider._store["refunds"]) == 1  # type: ignore[attr-defined]
    await check_ledger(database)


async def test_promotional_credits_are_not_refundable(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    from datetime import UTC, datetime

    from app.domain.actor import Actor
    from app.domain.credits.purchases import grant_promotional_credits

    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with database.transaction() as session:
        promo = await grant_promotional_credits(
            session,
            staff,
            world.acme_id,
            amount="5",
            expires_at=datetime(2027, 5, 1, tzinfo=UTC),
            note="x",
            settings=settings,
        )
    with pytest.raises(Conflict) as raised:
        await request_refund(database, admin(world), promo.id, payments=payments, reason="Cash please")
    assert raised.value.field == "grantId"
    assert await requests(database) == []

"""Charging an organization: once per thing paid, applied once, whatever fails in between."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.billing import charges
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.errors import PaymentFailed, PaymentUnavailable
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.errors import Conflict
from app.payments.facade import Payments
from tests.support import World, replace_charge_handlers


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each application of a successful SETTLEMENT charge (the purpose's real handlers are replaced)."""
    seen: list[str] = []

    async def apply(session: AsyncSession, charge: Charge) -> None:
        seen.append(charge.idempotency_key)

    async def ignore(session: AsyncSession, charge: Charge) -> None:
        return None

    replace_charge_handlers(
        monkeypatch,
        on_success={ChargePurpose.SETTLEMENT: apply},
        on_failure={ChargePurpose.SETTLEMENT: ignore},
    )
    return seen


async def pay(
    db: Database, payments: Payments, world: World, key: str = "settlement:2026-11", cents: int = 1234
) -> Charge:
    return await charges.charge(
        db,
        payments=payments,
        organization_id=world.acme_id,
        purpose=ChargePurpose.SETTLEMENT,
        amount_cents=cents,
        description="test",
        idempotency_key=key,
    )


async def card(db: Database, payments: Payments, world: World, ref: str = "pm_card_visa") -> None:
    await attach_payment_method(db, world.acme_id, payments=payments, provider_ref=ref)


async def count_charges(db: Database) -> int:
    async with db.transaction() as session:
        return (await session.scalar(select(func.count()).select_from(Charge))) or 0


async def test_success_is_applied_once_and_a_repeat_charges_nothing(
    database: Database, payments: Payments, world: World, applied: list[str]
) -> None:
    await card(database, payments, world)
    first = await pay(database, payments, world)
    again = await pay(database, payments, world)
    assert first.status is ChargeStatus.SUCCEEDED and again.id == first.id
    assert applied == ["settlement:2026-11"]
    assert len(payments.provider.recorded_charges()) == 1  # type: ignore[attr-defined]


async def test_no_card_is_a_typed_error(
    database: Database, payments: Payments, world: World, applied: list[str]
) -> None:
    with pytest.raises(Conflict) as raised:
        await pay(database, payments, world)
    assert raised.value.code.value == "NO_PAYMENT_METHOD"
    assert await count_charges(database) == 0


@pytest.mark.parametrize(
    ("ref", "status", "code"),
    [
        ("pm_card_chargeDeclined", ChargeStatus.DECLINED, "PAYMENT_DECLINED"),
        ("pm_card_chargeDeclinedInsufficientFunds", ChargeStatus.DECLINED, "PAYMENT_DECLINED"),
        ("pm_card_authenticationRequired", ChargeStatus.REQUIRES_ACTION, "PAYMENT_REQUIRES_ACTION"),
    ],
)
async def test_declines_are_results_and_nothing_is_applied(
    database: Database,
    payments: Payments,
    world: World,
    applied: list[str],
    ref: str,
    status: ChargeStatus,
    code: str,
) -> None:
    await card(database, payments, world, ref)
    declined = await pay(database, payments, world)
    assert declined.status is status and applied == []
    with pytest.raises(PaymentFailed) as raised:
        charges.require_success(declined)
    assert raised.value.code.value == code


async def test_a_lost_response_is_settled_by_the_retry_with_the_same_key(
    database: Database, payments: Payments, world: World, applied: list[str]
) -> None:
    await card(database, payments, world)
    provider: Any = payments.provider
    provider.faults.fail_next(1, "lost_response", operation="charge")
    with pytest.raises(PaymentUnavailable):
        await pay(database, payments, world)
    assert applied == []  # the provider took the money, we do not know it yet
    settled = await pay(database, payments, world)  # the console's retry, or the retry job
    assert settled.status is ChargeStatus.SUCCEEDED
    assert applied == ["settlement:2026-11"]
    assert len(provider.recorded_charges()) == 1


async def test_the_retry_job_settles_pending_charges(
    database: Database, payments: Payments, world: World, applied: list[str], clock: Any
) -> None:
    await card(database, payments, world)
    payments.provider.faults.fail_next(1, "timeout", operation="charge")  # type: ignore[attr-defined]
    with pytest.raises(PaymentUnavailable):
        await pay(database, payments, world)
    assert await charges.retry_pending(database, payments=payments) == 0  # too recent
    clock.advance(minutes=2)
    assert await charges.retry_pending(database, payments=payments) == 1
    assert applied == ["settlement:2026-11"]
    assert await charges.retry_pending(database, payments=payments) == 0


async def test_concurrent_attempts_charge_and_apply_once(
    database: Database, payments: Payments, world: World, applied: list[str]
) -> None:
    await card(database, payments, world)
    results = await asyncio.gather(
        *(pay(database, payments, world) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, Charge) and r.status is ChargeStatus.SUCCEEDED for r in results), results
    assert applied == ["settlement:2026-11"]
    assert await count_charges(database) == 1
    assert len(payments.provider.recorded_charges()) == 1  # type: ignore[attr-defined]

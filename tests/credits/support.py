"""Helpers of the credit tests: a card, a purchase, and the ledger's invariants checked from the tables."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.credits.ledger import burn_credits
from app.domain.credits.models import (
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    EntryKind,
    GrantSource,
    GrantState,
)
from app.domain.credits.purchases import Purchase, add_credits
from app.domain.money import NANOS_PER_CENT, NANOS_PER_UNIT
from app.payments.facade import Payments
from app.settings import Settings
from tests.support import World

DOLLAR = NANOS_PER_UNIT


def admin(world: World) -> Actor:
    return Actor(world.people["admin"].user_id)


async def card(db: Database, payments: Payments, organization_id: str, ref: str = "pm_card_visa") -> None:
    """Attach a test card as the organization's default."""
    await attach_payment_method(db, organization_id, payments=payments, provider_ref=ref)


async def buy(
    db: Database, payments: Payments, world: World, settings: Settings, amount: str, key: str | None = None
) -> Purchase:
    return await add_credits(
        db,
        admin(world),
        world.acme_id,
        payments=payments,
        amount=amount,
        idempotency_key=key,
        settings=settings,
    )


async def burn(db: Database, organization_id: str, nanos: int, reference: str = "test") -> Any:
    async with db.transaction() as session:
        return await burn_credits(session, organization_id, nanos, reference)


def provider_charges(payments: Payments) -> list[Any]:
    return payments.provider.recorded_charges()  # type: ignore[attr-defined,no-any-return]


async def check_ledger(db: Database) -> None:
    """Every invariant of the ledger, over every organization, from what is stored."""
    async with db.reader() as session:
        accounts = list(await session.scalars(select(CreditAccount)))
        entries = list(await session.scalars(select(CreditLedgerEntry)))
        grants = list(await session.scalars(select(CreditGrant)))
        uses = list(await session.scalars(select(CreditConsumption)))
        charges = list(await session.scalars(select(Charge)))
    ledger_sum: dict[str, int] = defaultdict(int)
    debt_made: dict[str, int] = defaultdict(int)
    taken: dict[str, int] = defaultdict(int)
    settled_by_charge: dict[str, int] = defaultdict(int)
    for entry in entries:
        ledger_sum[entry.organization_id] += entry.amount_nanos
        if entry.kind is EntryKind.USAGE:
            assert entry.amount_nanos <= 0 and 0 <= entry.uncovered_nanos <= -entry.amount_nanos
            debt_made[entry.organization_id] += entry.uncovered_nanos
        if entry.kind in (EntryKind.EXPIRY, EntryKind.REFUND):
            assert entry.grant_id and entry.amount_nanos < 0
            taken[entry.grant_id] -= entry.amount_nanos
        if entry.kind is EntryKind.SETTLEMENT:
            assert entry.charge_id and entry.amount_nanos > 0
            debt_made[entry.organization_id] -= entry.amount_nanos
            settled_by_charge[entry.charge_id] += 1
    consumed: dict[str, int] = defaultdict(int)
    for use in uses:
        assert use.amount_nanos > 0
        consumed[use.grant_id] += use.amount_nanos
        if use.entry_id is None:
            debt_made[use.organization_id] -= use.amount_nanos
    active: dict[str, int] = defaultdict(int)
    for grant in grants:
        assert 0 <= grant.remaining_nanos <= grant.amount_nanos, grant
        assert grant.remaining_nanos == grant.amount_nanos - consumed[grant.id] - taken[grant.id], grant
        if grant.state is GrantState.ACTIVE:
            assert grant.remaining_nanos > 0, grant
            active[grant.organization_id] += grant.remaining_nanos
        else:
            assert grant.remaining_nanos == 0, grant
    for account in accounts:
        org = account.organization_id
        assert account.balance_nanos == ledger_sum[org], "balance == sum of the ledger"
        assert account.debt_nanos == debt_made[org], "debt == uncovered usage - paid by grants - settled"
        assert 0 <= account.settling_nanos <= account.debt_nanos
        assert account.balance_nanos == active[org] - account.debt_nanos
    assert set(ledger_sum) <= {a.organization_id for a in accounts}
    # nothing granted without a successful charge, no successful charge without its grant
    grants_by_charge = defaultdict(list)
    for grant in grants:
        if grant.source is GrantSource.PROMOTIONAL:
            assert grant.charge_id is None
        else:
            assert grant.charge_id is not None
            grants_by_charge[grant.charge_id].append(grant)
    for charge in charges:
        paid = charge.status is ChargeStatus.SUCCEEDED
        if charge.purpose in (ChargePurpose.PURCHASE, ChargePurpose.AUTO_RECHARGE):
            granted = grants_by_charge.pop(charge.id, [])
            assert len(granted) == (1 if paid else 0), charge
            if paid:
                assert granted[0].amount_nanos == charge.amount_cents * NANOS_PER_CENT
        if charge.purpose is ChargePurpose.SETTLEMENT:
            assert settled_by_charge.pop(charge.id, 0) == (1 if paid else 0), charge
    assert not grants_by_charge, "grants whose charge is unknown"
    assert not settled_by_charge, "settlements without a charge"

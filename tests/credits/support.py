"""Helpers of the credit tests: a card, a purchase, and the ledger's invariants checked from the tables."""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.credits.audit import audit_ledger
from app.domain.credits.ledger import burn_credits
from app.domain.credits.purchases import Purchase, add_credits
from app.domain.money import NANOS_PER_UNIT
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
    assert await audit_ledger(db) == []

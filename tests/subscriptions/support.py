"""Helpers for subscription tests: subscribe as Acme's admin, read back what changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.billing.models import Charge, ChargePurpose
from app.domain.notifications.models import OutboxMessage
from app.domain.subscriptions import service
from app.domain.subscriptions.models import Subscription, TierCapacity
from app.domain.subscriptions.renewal import run_renewals
from app.services import Services
from tests.support import World

RETRIES = 3


def actor(world: World, who: str = "admin") -> Actor:
    return Actor(world.people[who].user_id, is_staff=who == "staff")


async def use_card(db: Database, services: Services, organization_id: str, ref: str = "pm_card_visa") -> None:
    """Put a card on file as the organization's default (the fake provider's test cards)."""
    await attach_payment_method(db, organization_id, payments=services.payments, provider_ref=ref)


async def subscribe(
    db: Database,
    services: Services,
    world: World,
    *,
    model: str = "gpt-oss-120b",
    tier: str = "starter",
    organization_id: str | None = None,
    who: str = "admin",
) -> Subscription:
    return await service.subscribe(
        db,
        actor(world, who),
        organization_id or world.acme_id,
        payments=services.payments,
        catalog=services.catalog,
        model_id=model,
        tier_id=tier,
        retries=RETRIES,
    )


async def change_tier(
    db: Database, services: Services, world: World, subscription_id: str, tier: str
) -> Subscription:
    return await service.change_tier(
        db,
        actor(world),
        subscription_id,
        payments=services.payments,
        catalog=services.catalog,
        tier_id=tier,
        retries=RETRIES,
    )


async def renew(db: Database, services: Services, retries: int = RETRIES) -> dict[str, int]:
    return await run_renewals(db, payments=services.payments, catalog=services.catalog, retries=retries)


async def reload(db: Database, subscription_id: str) -> Subscription:
    async with db.reader() as session:
        row = await session.get(Subscription, subscription_id)
    assert row is not None
    return row


async def taken(db: Database, model: str = "gpt-oss-120b", tier: str = "starter") -> int:
    async with db.reader() as session:
        row = await session.get(TierCapacity, (model, tier))
    return row.taken if row is not None else 0


async def subscription_charges(db: Database, organization_id: str) -> list[Charge]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(Charge)
            .where(Charge.organization_id == organization_id)
            .where(Charge.purpose == ChargePurpose.SUBSCRIPTION)
            .order_by(Charge.created_at, Charge.idempotency_key)  # type: ignore[arg-type]
        )
        return list(rows)


async def emails(db: Database) -> list[OutboxMessage]:
    """The emails about subscriptions, oldest first."""
    async with db.reader() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.subject.contains("subscription"))  # type: ignore[attr-defined]
            .order_by(OutboxMessage.created_at)  # type: ignore[arg-type]
        )
        return list(rows)


def provider_charges(services: Services) -> list[Any]:
    return list(services.payments.provider.recorded_charges())  # type: ignore[attr-defined]


async def insert_subscription(
    db: Database,
    organization_id: str,
    *,
    subscription_id: str,
    model: str = "gpt-oss-120b",
    tier: str = "growth",
    start: datetime,
) -> None:
    """An ACTIVE, paid subscription holding its place, written directly (for tests about who may act on it)."""
    from app.domain.catalog import load_catalog
    from app.domain.subscriptions import capacity
    from app.domain.subscriptions.models import SubscriptionState
    from app.domain.subscriptions.periods import add_months

    found = load_catalog().tier(model, tier)
    assert found is not None
    async with db.transaction() as session:
        await capacity.reserve(session, model, found)
        end = add_months(start, 1)
        session.add(
            Subscription(
                id=subscription_id,
                organization_id=organization_id,
                model_id=model,
                tier_id=tier,
                state=SubscriptionState.ACTIVE,
                billing_anchor=start,
                current_period_start=start,
                current_period_end=end,
                next_charge_at=end,
            )
        )

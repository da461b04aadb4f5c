"""Racing for the last place of a tier: exactly one organization gets it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from app.db import Database
from app.domain.errors import Conflict
from app.domain.subscriptions import capacity
from app.domain.subscriptions.models import Subscription, SubscriptionState
from app.services import Services
from tests.subscriptions.support import actor, provider_charges, subscribe, taken, use_card
from tests.support import World


async def test_two_organizations_racing_for_the_last_place(
    database: Database, services: Services, world: World
) -> None:
    async with database.transaction() as session:
        await capacity.set_capacity(
            session,
            actor(world, "staff"),
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            tier_id="scale",
            capacity=1,
        )
    await use_card(database, services, world.acme_id)
    await use_card(database, services, world.evil_id)
    results = await asyncio.gather(
        subscribe(database, services, world, tier="scale"),
        subscribe(database, services, world, tier="scale", organization_id=world.evil_id, who="outsider"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Subscription)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 1, results
    assert won[0].state is SubscriptionState.ACTIVE
    assert lost[0].code.value == "SOLD_OUT"
    assert await taken(database, tier="scale") == 1
    assert len(provider_charges(services)) == 1  # the loser was never charged


async def test_many_organizations_racing_take_exactly_the_capacity(
    database: Database, services: Services, world: World
) -> None:
    from app.domain.accounts.models import User
    from app.domain.orgs.models import OrganizationType
    from app.domain.orgs.service import create_organization

    async with database.transaction() as session:
        owner = await session.get(User, world.people["admin"].user_id)
        assert owner is not None
        teams = [
            (await create_organization(session, owner=owner, name=f"Team {n}", type=OrganizationType.TEAM)).id
            for n in range(6)
        ]
        await capacity.set_capacity(
            session,
            actor(world, "staff"),
            catalog=services.catalog,
            model_id="zai-glm-4.7",
            tier_id="growth",
            capacity=2,
        )
    for team in teams:
        await use_card(database, services, team)
    results = await asyncio.gather(
        *(
            subscribe(database, services, world, model="zai-glm-4.7", tier="growth", organization_id=t)
            for t in teams
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Subscription) for r in results) == 2, results
    assert all(
        isinstance(r, Subscription) or (isinstance(r, Conflict) and r.code.value == "SOLD_OUT")
        for r in results
    )
    assert await taken(database, "zai-glm-4.7", "growth") == 2
    assert len(provider_charges(services)) == 2


async def test_one_organization_subscribing_twice_at_once_is_charged_once(
    database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id)
    results = await asyncio.gather(
        subscribe(database, services, world), subscribe(database, services, world), return_exceptions=True
    )
    # the second either waits for the first one's charge (the same subscription) or is refused
    subscribed = {r.id for r in results if isinstance(r, Subscription)}
    refused = [r for r in results if not isinstance(r, Subscription)]
    assert len(subscribed) == 1, results
    assert all(
        isinstance(r, Conflict) and r.code.value in ("ALREADY_SUBSCRIBED", "PAYMENT_PENDING") for r in refused
    )
    assert await taken(database) == 1
    assert len(provider_charges(services)) == 1

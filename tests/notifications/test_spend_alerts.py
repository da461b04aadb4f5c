"""Spend alerts: month-to-date spend from real usage reports; each amount fires once a month, in order."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.actor import Actor
from app.domain.catalog.models import RateLimits
from app.domain.money import NANOS_PER_UNIT
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.spend_alerts import (
    add_spend_alert,
    month_to_date_spend,
    send_spend_alerts,
)
from app.domain.plans.overrides import set_limit_override
from app.payments.facade import Payments
from app.services import Services
from app.settings import Settings
from tests.credits.support import admin
from tests.fleet.conftest import Fleet, buy_credits, new_key
from tests.support import GraphQL, World

MODEL = "zai-glm-4.7"  # $2.25 / $2.75 per million tokens
REQUEST_NANOS = 100_000 * 2_250 + 10_000 * 2_750  # $0.2525 per request below


@pytest.fixture
async def spender(
    client: httpx.AsyncClient, gql: GraphQL, database: Database, payments: Payments, settings: Settings,
    services: Services, world: World, clock: FrozenClock,
) -> Any:  # fmt: skip
    """Runs PayGo requests of $0.2525 on Acme's key through the fleet's API."""
    await buy_credits(database, payments, settings, world, "100.00")
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    async with database.transaction() as session:
        await set_limit_override(session, staff, world.acme_id, catalog=services.catalog, model_id=MODEL,
                                 limits=RateLimits(requests_per_minute=10_000, tokens_per_minute=100_000_000))  # fmt: skip
    key = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
    fleet = Fleet(client)

    async def spend(requests: int) -> None:
        for _ in range(requests):
            await fleet.run(
                key, model=MODEL, input_tokens=100_000, output_tokens=10_000, max_output_tokens=10_000
            )
        await fleet.fold()  # in the roll-ups the alerts read (the app folds them within a second)

    return spend


async def alerts_mail(db: Database) -> list[tuple[str, str]]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "spend_alert")
            .order_by(OutboxMessage.created_at)
        )
        return [(m.to_address, m.subject) for m in rows]


ADD_ALERT = """mutation($o: ID!, $a: String!) { addSpendAlert(input: {organizationId: $o, amount: $a}) {
  __typename ... on NotificationSettingsPayload { settings { spendAlerts { amount { amount } } } } ... on Error { code } } }"""
ADD_CONTACT = """mutation($o: ID!) { addBillingContact(input: {organizationId: $o, email: "ap@books.example", notices: [SPEND_ALERTS]}) {
  __typename ... on Error { code } } }"""
SETTINGS = """query($o: ID!) { notificationSettings(organizationId: $o) { ... on NotificationSettings {
  month monthToDateSpend { amount currency } spendAlerts { amount { amount } firedAt } } } }"""


async def test_an_alert_fires_once_when_spend_crosses_it_and_again_next_month(
    gql: GraphQL, database: Database, world: World, spender: Any, clock: FrozenClock
) -> None:
    acme, token = world.gid("Organization", world.acme_id), world.token("admin")
    added = (await gql(ADD_ALERT, {"o": acme, "a": "5"}, token=token))["addSpendAlert"]
    assert added["settings"]["spendAlerts"] == [{"amount": {"amount": "5.00"}}]
    assert (await gql(ADD_CONTACT, {"o": acme}, token=token))["addBillingContact"][
        "__typename"
    ] == "NotificationSettingsPayload"

    await spender(19)  # $4.80
    assert await send_spend_alerts(database) == 0
    await spender(1)  # $5.05
    assert await send_spend_alerts(database) == 1
    await spender(4)
    assert await send_spend_alerts(database) == 0  # not again this month
    sent = await alerts_mail(database)
    assert [to for to, _ in sent] == ["admin@example.com", "ap@books.example"]  # the contact is no member
    assert all(subject == "Acme: spend this month passed $5.00" for _, subject in sent)
    settings = (await gql(SETTINGS, {"o": acme}, token=token))["notificationSettings"]
    assert (
        settings["month"] == "2026-11"
        and settings["spendAlerts"][0]["firedAt"] == "2026-11-23T12:00:00+00:00"
    )
    assert settings["monthToDateSpend"] == {"amount": "6.06", "currency": "USD"}  # 24 requests of $0.2525
    async with database.reader() as session:
        assert await month_to_date_spend(session, world.acme_id, clock.now()) == 24 * REQUEST_NANOS

    clock.advance(days=8)  # December
    settings = (await gql(SETTINGS, {"o": acme}, token=token))["notificationSettings"]
    assert settings["month"] == "2026-12" and settings["spendAlerts"][0]["firedAt"] is None
    assert settings["monthToDateSpend"]["amount"] == "0.00"
    await spender(19)
    assert await send_spend_alerts(database) == 0
    await spender(1)
    assert await send_spend_alerts(database) == 1
    assert len(await alerts_mail(database)) == 4


async def test_two_alerts_fire_in_order(gql: GraphQL, database: Database, world: World, spender: Any) -> None:
    for dollars in ("10", "5"):
        await gql(
            ADD_ALERT,
            {"o": world.gid("Organization", world.acme_id), "a": dollars},
            token=world.token("admin"),
        )
    await spender(20)  # $5.05
    assert await send_spend_alerts(database) == 1
    await spender(20)  # $10.10
    assert await send_spend_alerts(database) == 1
    assert [subject for _, subject in await alerts_mail(database)] == [
        "Acme: spend this month passed $5.00",
        "Acme: spend this month passed $10.00",
    ]


async def test_two_alerts_crossed_together_both_fire_once(
    database: Database, world: World, spender: Any
) -> None:
    async with database.transaction() as session:
        for dollars in (10, 5):
            await add_spend_alert(session, admin(world), world.acme_id, amount_nanos=dollars * NANOS_PER_UNIT)
    await spender(40)  # $10.10
    assert await send_spend_alerts(database) == 2
    assert sorted(subject for _, subject in await alerts_mail(database)) == [
        "Acme: spend this month passed $10.00",
        "Acme: spend this month passed $5.00",
    ]
    assert await send_spend_alerts(database) == 0

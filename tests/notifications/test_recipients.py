"""Who gets which notice: admins unless they opted out, contacts as chosen, security notices to every admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.actor import Actor
from app.domain.credits.alerts import send_low_balance_alerts
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.notifications.models import Notice, OutboxMessage
from app.domain.notifications.preferences import add_billing_contact, set_low_balance_alert, set_my_notices
from app.domain.notifications.recipients import recipients
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, buy, card
from tests.support import World


async def test_opted_out_admins_still_get_security_notices(database: Database, world: World) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        await set_my_notices(session, admin, world.acme_id, notices=[Notice.RECEIPTS])
        await add_billing_contact(
            session, admin, world.acme_id, email="AP@Books.example", notices=[Notice.FAILED_CHARGES]
        )
    async with database.reader() as session:
        assert await recipients(session, world.acme_id, Notice.FAILED_CHARGES) == ["AP@Books.example"]
        assert await recipients(session, world.acme_id, Notice.FAILED_CHARGES, security=True) == [
            "admin@example.com",
            "AP@Books.example",
        ]
        assert await recipients(session, world.acme_id, None) == [
            "admin@example.com"
        ]  # a dispute: admins only
        assert await recipients(session, world.acme_id, Notice.RECEIPTS) == ["admin@example.com"]


async def test_contacts_are_not_members_and_only_admins_manage_them(database: Database, world: World) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        with pytest.raises(Conflict):  # a member chooses their notices themselves
            await add_billing_contact(
                session, admin, world.acme_id, email="project_member@example.com", notices=[]
            )
        with pytest.raises(Forbidden):
            await add_billing_contact(session, Actor(world.people["project_admin"].user_id), world.acme_id,
                                      email="x@books.example", notices=[])  # fmt: skip
        with pytest.raises(NotFound):
            await set_low_balance_alert(
                session, Actor(world.people["outsider"].user_id), world.acme_id, amount_nanos=0
            )


async def test_the_low_balance_level_is_the_organizations_own_or_the_default(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "15")
    assert await send_low_balance_alerts(database, settings=settings) == 0  # $15 is above the default $5
    async with database.transaction() as session:
        await set_low_balance_alert(session, admin(world), world.acme_id, amount_nanos=20 * DOLLAR)
    assert await send_low_balance_alerts(database, settings=settings) == 1
    assert await send_low_balance_alerts(database, settings=settings) == 0  # once per dip
    async with database.reader() as session:
        [mail] = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.template == "low_balance"))
        )
    assert mail.subject == "Acme: your credit balance is low" and "$15.00, below $20.00" in mail.body_text

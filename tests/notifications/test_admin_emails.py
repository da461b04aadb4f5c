"""Emails to an organization's admins: one per Organization Admin, the same shape for every area."""

from __future__ import annotations

from sqlalchemy import select

from app.db import Database
from app.domain.credits.notices import email_admins as email_about_credits
from app.domain.notifications.models import OutboxMessage
from app.domain.subscriptions.models import Subscription
from app.domain.subscriptions.notify import email_admins as email_about_subscription
from tests.support import World


async def outbox(database: Database) -> list[OutboxMessage]:
    async with database.reader() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.to_address)))


async def test_credit_notices_go_to_each_admin_only_naming_the_organization(
    database: Database, world: World
) -> None:
    async with database.transaction() as session:
        sent = await email_about_credits(session, world.acme_id, subject="low balance", body="Top up.")
    messages = await outbox(database)
    assert sent == 1 and [m.to_address for m in messages] == [world.people["admin"].email]
    assert messages[0].subject == "Acme: low balance"
    assert messages[0].body_text == (
        f"Hello,\n\nTop up.\n\nOrganization: Acme ({world.acme_id})\n"
        "-- \nThe Inference Cloud console: Billing > Pay as you go.\n"
    )


async def test_subscription_notices_add_the_subscription(database: Database, world: World) -> None:
    subscription = Subscription(
        id="sub_1", organization_id=world.acme_id, model_id="gpt-oss-120b", tier_id="growth"
    )
    async with database.transaction() as session:
        await email_about_subscription(session, subscription, "renewed", "Paid.")
    (message,) = await outbox(database)
    assert message.subject == "Acme: renewed"
    assert message.body_text.endswith(
        f"Organization: Acme ({world.acme_id})\nSubscription: sub_1, model gpt-oss-120b, tier growth\n"
        "-- \nThe Inference Cloud console: Billing > Subscriptions.\n"
    )
